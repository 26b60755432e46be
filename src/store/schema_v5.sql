-- v5: the delivery workers' claim reads this index alone: the pending rows in due order, with
-- the host (the per-host limit) and the inbox and object (the order rule), never a row's body.
-- Without it every claim read every due row whole, bodies included, from the table.
CREATE INDEX deliveries_claim ON deliveries (next_attempt_at, host, inbox, object_id)
    WHERE state = 'pending';

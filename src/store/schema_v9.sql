-- v9: an activity's body is stored once, not once per inbox. A post to followers on 50,000
-- servers queued its JSON 50,000 times, and every claim and answer rewrote the pages those
-- copies sat on. Rows now point to `delivery_bodies` by `body_id`; bodies no row points to go
-- when old rows are pruned (not a foreign key: pruning checks it).

CREATE TABLE delivery_bodies (
    body_id INTEGER PRIMARY KEY,
    body    TEXT NOT NULL             -- the JSON exactly as it is sent
);

-- One body per activity and text (rows of one fan-out share one), numbered by its first row.
INSERT INTO delivery_bodies (body_id, body)
    SELECT MIN(id), body FROM deliveries GROUP BY activity_id, body;

ALTER TABLE deliveries ADD COLUMN body_id INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET body_id = (
    SELECT MIN(o.id) FROM deliveries o
    WHERE o.activity_id = deliveries.activity_id AND o.body = deliveries.body);
ALTER TABLE deliveries DROP COLUMN body;

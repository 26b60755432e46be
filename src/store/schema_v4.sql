-- Order in the outgoing queue (issue "Live publishing", item 7). For one inbox, the activities
-- about one object go out in the order they were queued: a row is claimable only while no older
-- (smaller id) pending row has the same inbox and object_id. A row queued again gets a new id, so
-- the id is the order in which activities were made.
--
-- Rows a later activity made moot before they were sent (an older pending Update, a Create and
-- its Updates cancelled by the Delete of the post) are kept as 'cancelled', so a Delete can tell
-- an inbox that never got the post (it sends nothing there) from one that did, and the operator
-- sees them. `delivered_at` is when the inbox last answered 2xx, kept when the activity is queued
-- again. SQLite cannot change a CHECK constraint in place: the table is rebuilt.

CREATE TABLE deliveries_v3 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id     TEXT NOT NULL,
    object_id       TEXT,             -- the object it is about: the key of the per-inbox order
    kind            TEXT NOT NULL DEFAULT '', -- the activity's type (Create, Update, Delete, Accept...)
    actor           TEXT NOT NULL,    -- our handle that signs ('~instance' for the instance actor)
    inbox           TEXT NOT NULL,
    host            TEXT NOT NULL DEFAULT '', -- the inbox's host[:port], for per-host limits
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'done', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0, -- attempts that got an outcome (a crash is none)
    next_attempt_at INTEGER NOT NULL, -- unix ms; also the lease of a row being sent
    leased          INTEGER NOT NULL DEFAULT 0, -- 1 while a worker sends it (next_attempt_at = lease end)
    created_at      INTEGER NOT NULL, -- unix ms
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,          -- unix ms of the last 2xx; kept when queued again
    UNIQUE (activity_id, inbox)
);

-- Keep the AUTOINCREMENT high-water mark, so no id is ever handed out twice.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'deliveries_v3', seq FROM sqlite_sequence WHERE name = 'deliveries';

INSERT INTO deliveries_v3
    (id, activity_id, object_id, kind, actor, inbox, host, body, state, attempts,
     next_attempt_at, leased, created_at, last_status, last_error, delivered_at)
SELECT id, activity_id, object_id, kind, actor, inbox, host, body, state, attempts,
       next_attempt_at, leased, created_at, last_status, last_error,
       -- v2 did not record when: the time it was queued is the closest known.
       CASE WHEN state = 'done' THEN created_at END
FROM deliveries;

DROP TABLE deliveries;
ALTER TABLE deliveries_v3 RENAME TO deliveries;

CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_object ON deliveries (object_id);
CREATE INDEX deliveries_by_host ON deliveries (host, state);
-- The order rule's lookup: older pending rows of one (inbox, object).
CREATE INDEX deliveries_in_order ON deliveries (inbox, object_id, id) WHERE state = 'pending';

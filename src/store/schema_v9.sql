-- v9: an activity's body is stored once, not once per inbox. A post to followers on 50,000
-- servers queued its JSON 50,000 times, and every claim and answer rewrote the pages those
-- copies sat on. Rows now point to `delivery_bodies`; bodies no row points to go when old rows
-- are pruned. SQLite cannot drop a NOT NULL column in use by nothing: the table is rebuilt.

CREATE TABLE delivery_bodies (
    body_id INTEGER PRIMARY KEY,
    body    TEXT NOT NULL             -- the JSON exactly as it is sent
);

-- One body per activity and text (rows of one fan-out share one), numbered by its first row.
INSERT INTO delivery_bodies (body_id, body)
    SELECT MIN(id), body FROM deliveries GROUP BY activity_id, body;

CREATE TABLE deliveries_v9 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id     TEXT NOT NULL,
    object_id       TEXT,             -- the object it is about: the key of the per-inbox order
    kind            TEXT NOT NULL DEFAULT '', -- the activity's type (Create, Update, Delete, Accept...)
    actor           TEXT NOT NULL,    -- our handle that signs ('~instance' for the instance actor)
    inbox           TEXT NOT NULL,
    host            TEXT NOT NULL DEFAULT '', -- the inbox's host[:port], for per-host limits
    body_id         INTEGER NOT NULL, -- delivery_bodies (not a foreign key: pruning checks it)
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
    SELECT 'deliveries_v9', seq FROM sqlite_sequence WHERE name = 'deliveries';

INSERT INTO deliveries_v9
    (id, activity_id, object_id, kind, actor, inbox, host, body_id, state, attempts,
     next_attempt_at, leased, created_at, last_status, last_error, delivered_at)
SELECT d.id, d.activity_id, d.object_id, d.kind, d.actor, d.inbox, d.host,
       (SELECT MIN(o.id) FROM deliveries o WHERE o.activity_id = d.activity_id AND o.body = d.body),
       d.state, d.attempts, d.next_attempt_at, d.leased, d.created_at, d.last_status,
       d.last_error, d.delivered_at
FROM deliveries d;

DROP TABLE deliveries;
ALTER TABLE deliveries_v9 RENAME TO deliveries;

CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_object ON deliveries (object_id);
CREATE INDEX deliveries_by_host ON deliveries (host, state);
-- The order rule's lookup: older pending rows of one (inbox, object).
CREATE INDEX deliveries_in_order ON deliveries (inbox, object_id, id) WHERE state = 'pending';
-- The claim's index (v5).
CREATE INDEX deliveries_claim ON deliveries (next_attempt_at, host, inbox, object_id)
    WHERE state = 'pending';

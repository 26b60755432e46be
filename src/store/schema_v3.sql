-- The moderation queue (`masthead queue`, `approve`, `reject`): who held a reply, mention or
-- follow for a person's decision and why, and the short number it is named by (r12, f13).
-- Numbers come from one sequence shared by replies and follows and are never reused, so an id a
-- person copied from a listing names the same item until it is decided.

-- `replies` is rebuilt: SQLite cannot change a CHECK constraint in place, and a reply may now be
-- `hidden` (kept, never shown, out of the queue) as well as held or rejected.
CREATE TABLE replies_queue (
    id           TEXT PRIMARY KEY,    -- the remote Note id
    author       TEXT NOT NULL,       -- remote actor id
    post_actor   TEXT,                -- the post answered, when it is one of ours
    post_slug    TEXT,
    mentions     TEXT,                -- our handles mentioned, comma separated
    in_reply_to  TEXT,
    content_html TEXT NOT NULL,       -- sanitized
    url          TEXT,
    published    TEXT NOT NULL,
    updated      TEXT,
    status       TEXT NOT NULL DEFAULT 'visible'
                 CHECK (status IN ('visible', 'held', 'hidden', 'rejected')),
    received_at  TEXT NOT NULL,
    public       INTEGER NOT NULL DEFAULT 1, -- 0: sent directly or to followers only; never shown
    held_by      TEXT,                -- 'moderation', 'manual approval' or 'plugin:NAME'
    held_reason  TEXT,
    queue_no     INTEGER UNIQUE       -- set when it was held or hidden; kept after the decision
);
-- A reply held before this migration may have been held for not being public: masthead cannot
-- tell any more, so it is kept private.
INSERT INTO replies_queue (id, author, post_actor, post_slug, mentions, in_reply_to, content_html,
                           url, published, updated, status, received_at, public, held_by,
                           held_reason)
SELECT id, author, post_actor, post_slug, mentions, in_reply_to, content_html, url, published,
       updated, status, received_at,
       status = 'visible',
       CASE WHEN status <> 'visible' THEN 'moderation' END,
       CASE WHEN status <> 'visible'
            THEN 'held before masthead recorded reasons (a silenced domain, or not public)' END
FROM replies;
DROP TABLE replies;
ALTER TABLE replies_queue RENAME TO replies;
CREATE INDEX replies_by_post ON replies (post_actor, post_slug);
CREATE INDEX replies_by_author ON replies (author);

ALTER TABLE followers ADD COLUMN held_by TEXT;     -- as for replies, while the follow is pending
ALTER TABLE followers ADD COLUMN held_reason TEXT;
ALTER TABLE followers ADD COLUMN queue_no INTEGER; -- set while pending
CREATE UNIQUE INDEX followers_by_queue_no ON followers (queue_no);
UPDATE followers SET held_by = 'manual approval',
                     held_reason = actor || ' approves its followers by hand'
WHERE state = 'pending';

-- The last queue number handed out.
CREATE TABLE queue_sequence (last INTEGER NOT NULL);
INSERT INTO queue_sequence (last) VALUES (0);

UPDATE replies SET queue_no = n
FROM (SELECT id AS rid, ROW_NUMBER() OVER (ORDER BY received_at, id) AS n
      FROM replies WHERE status <> 'visible')
WHERE replies.id = rid;
UPDATE followers SET queue_no = n + (SELECT COUNT(queue_no) FROM replies)
FROM (SELECT actor AS a, follower AS f,
             ROW_NUMBER() OVER (ORDER BY created_at, actor, follower) AS n
      FROM followers WHERE state = 'pending')
WHERE followers.actor = a AND followers.follower = f;
UPDATE queue_sequence
SET last = (SELECT COUNT(queue_no) FROM replies) + (SELECT COUNT(queue_no) FROM followers);

-- Federation: who follows us, what remote servers sent, what we owe them.
-- Times that are compared (scheduling) are unix milliseconds; others are RFC 3339 text.

-- Remote actors and their keys, as last fetched (signed GET as the instance actor).
CREATE TABLE remote_actors (
    id             TEXT PRIMARY KEY,  -- actor id (== URL fetched, checked)
    inbox          TEXT NOT NULL,
    shared_inbox   TEXT,
    key_id         TEXT,              -- publicKey.id
    public_key_pem TEXT,
    handle         TEXT,              -- preferredUsername@host, for people reading lists
    name           TEXT,
    url            TEXT,              -- profile page
    document       TEXT NOT NULL,     -- the JSON as fetched
    fetched_at     INTEGER NOT NULL   -- unix ms
);
CREATE INDEX remote_actors_by_key ON remote_actors (key_id);

-- Followers of our actors. A pending follow waits for `masthead follows approve`.
CREATE TABLE followers (
    actor        TEXT NOT NULL,       -- our handle
    follower     TEXT NOT NULL,       -- remote actor id
    follow_id    TEXT NOT NULL,       -- id of their Follow (object of our Accept/Reject)
    inbox        TEXT NOT NULL,
    shared_inbox TEXT,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'accepted')),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (actor, follower)
);
CREATE INDEX followers_by_follower ON followers (follower);

-- Every verified inbox activity, once: the id is the dedupe key, the row is the durable job.
CREATE TABLE inbox_activities (
    id          TEXT PRIMARY KEY,     -- activity id
    signer      TEXT NOT NULL,        -- verified remote actor id
    recipient   TEXT,                 -- our handle, for a personal inbox; NULL for the shared one
    type        TEXT NOT NULL,
    body        TEXT NOT NULL,        -- the JSON as received
    signature   TEXT NOT NULL DEFAULT '', -- the scheme that verified: rfc9421 or draft-cavage-12
    received_at INTEGER NOT NULL,     -- unix ms
    state       TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0, -- unix ms; a failed attempt is retried later
    error       TEXT
);
CREATE INDEX inbox_activities_queued ON inbox_activities (state, next_attempt_at);

-- The one outgoing queue: every activity to every inbox, signed afresh at each attempt.
-- A row is leased while it is being sent by moving next_attempt_at ahead, so a crash mid-send
-- only delays it. Retry policy: src/federation/delivery.rs.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id     TEXT NOT NULL,
    object_id       TEXT,             -- the post it is about, so a Delete can drop a pending Create
    kind            TEXT NOT NULL DEFAULT '', -- the activity's type (Create, Update, Delete, Accept...)
    actor           TEXT NOT NULL,    -- our handle that signs ('~instance' for the instance actor)
    inbox           TEXT NOT NULL,
    host            TEXT NOT NULL DEFAULT '', -- the inbox's host[:port], for per-host limits
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0, -- attempts that got an outcome (a crash is none)
    next_attempt_at INTEGER NOT NULL, -- unix ms; also the lease of a row being sent
    leased          INTEGER NOT NULL DEFAULT 0, -- 1 while a worker sends it (next_attempt_at = lease end)
    created_at      INTEGER NOT NULL, -- unix ms
    last_status     INTEGER,
    last_error      TEXT,
    UNIQUE (activity_id, inbox)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_object ON deliveries (object_id);
CREATE INDEX deliveries_by_host ON deliveries (host, state);

-- Likes and boosts of our posts.
CREATE TABLE interactions (
    activity_id TEXT PRIMARY KEY,     -- the Like or Announce id (Undo names it)
    kind        TEXT NOT NULL CHECK (kind IN ('like', 'announce')),
    actor       TEXT NOT NULL,        -- remote actor id
    post_actor  TEXT NOT NULL,
    post_slug   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (kind, actor, post_actor, post_slug)
);

-- Replies to our posts and mentions of our actors.
CREATE TABLE replies (
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
    status       TEXT NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'held', 'rejected')),
    received_at  TEXT NOT NULL
);
CREATE INDEX replies_by_post ON replies (post_actor, post_slug);

-- Reports (Flag) for the operator.
CREATE TABLE reports (
    id          TEXT PRIMARY KEY,     -- the Flag id
    reporter    TEXT NOT NULL,
    objects     TEXT NOT NULL,        -- JSON array of reported ids
    content     TEXT,
    received_at TEXT NOT NULL,
    resolved    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX interactions_by_post ON interactions (post_actor, post_slug);
CREATE INDEX interactions_by_actor ON interactions (actor);
CREATE INDEX replies_by_author ON replies (author);

-- Per-host bookkeeping: key refetch rate limit, delivery failures.
CREATE TABLE hosts (
    host              TEXT PRIMARY KEY,
    last_key_refetch  INTEGER,        -- unix ms
    failure_days      TEXT NOT NULL DEFAULT '', -- distinct UTC days with failures, comma separated
    unavailable_since INTEGER
);

-- Who a mention or a reply names, resolved over the network once and kept (federation/addressing.rs).
-- A failed resolution is kept too (actor_id NULL, error set), so a dead host is retried at most
-- once an hour instead of holding up every post that names it.
CREATE TABLE remote_refs (
    key         TEXT PRIMARY KEY,     -- `acct:user@host` for a mention, the note URL for in_reply_to
    actor_id    TEXT,                 -- the actor named; NULL when resolution failed
    inbox       TEXT,                 -- its shared inbox, else its inbox
    name        TEXT,                 -- `@user@host`, the Mention tag's name
    resolved_at INTEGER NOT NULL,     -- unix ms of the last attempt
    error       TEXT                  -- why the last attempt failed
);

-- Publications owed to followers: written in the same transaction that records a post as
-- created, changed or removed, and deleted in the transaction that queues the activity, so a
-- crash between the two can neither lose nor repeat one. Creates and Updates whose mentions or
-- reply are not resolved yet wait here for the addressing worker.
CREATE TABLE pending_publications (
    id         INTEGER PRIMARY KEY,
    actor      TEXT NOT NULL,         -- our handle
    slug       TEXT NOT NULL,
    change     TEXT NOT NULL CHECK (change IN ('create', 'update', 'delete')),
    created_at INTEGER NOT NULL,      -- unix ms
    UNIQUE (actor, slug, change)
);

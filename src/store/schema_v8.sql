-- Plugins and our posts: what an outgoing-post plugin holds back, and the answers plugins sent
-- as our actors (served at their ids, as they were delivered).

-- One of our posts a plugin vetoed: a new post is not served or sent; an edit is not sent and
-- the version followers have stays served. Rewritten at every catalog build for the files it
-- read, so a post no plugin vetoes any more leaves this table and is published.
CREATE TABLE held_posts (
    actor   TEXT NOT NULL,
    slug    TEXT NOT NULL,
    source  TEXT NOT NULL,          -- the Markdown file, relative to the site root
    change  TEXT NOT NULL CHECK (change IN ('create', 'update')),
    plugin  TEXT NOT NULL,
    reason  TEXT NOT NULL,
    since   INTEGER NOT NULL,       -- unix ms; kept while the same post stays held
    PRIMARY KEY (actor, slug)
);
CREATE INDEX held_posts_source ON held_posts (source);

-- An answer a plugin sent as our actor (an auto-reply), by its Note's id.
CREATE TABLE auto_replies (
    id         TEXT PRIMARY KEY,    -- the Note's id, {actor}/auto-replies/{hash}
    actor      TEXT NOT NULL,       -- our handle
    addressee  TEXT NOT NULL,       -- the remote actor answered
    public     INTEGER NOT NULL,    -- 1 when anyone may read it (public or unlisted)
    object     TEXT NOT NULL,       -- the Note as delivered (JSON, without @context)
    created_at INTEGER NOT NULL     -- unix ms
);

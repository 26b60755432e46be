-- Actor keypairs: generated on first start, never regenerated (followers pin the key).
CREATE TABLE actor_keys (
    handle      TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,   -- PKCS#8
    public_pem  TEXT NOT NULL,   -- SPKI
    created_at  TEXT NOT NULL    -- RFC 3339; the actor's `published`
);

-- The post index: one row per (actor, slug) ever seen.
CREATE TABLE posts (
    actor       TEXT NOT NULL,
    slug        TEXT NOT NULL,
    source      TEXT NOT NULL,   -- Markdown file relative to the site root
    hash        TEXT NOT NULL,   -- inputs of the rendering; same hash = no re-render
    rendered    TEXT NOT NULL,   -- the rendered post as JSON
    object_type TEXT NOT NULL,   -- Note or Article, for the Tombstone's formerType
    first_seen  TEXT NOT NULL,   -- RFC 3339; `published` of a post without a date
    deleted_at  TEXT,            -- set when a published post's file is gone
    PRIMARY KEY (actor, slug)
);
CREATE INDEX posts_by_source ON posts (source);

-- Live content: what decides an Update, and removals that wait before their Delete goes out.

-- The hash of the post's source (front matter and body, whitespace runs counted as one space).
-- Only a change of it sends an Update; `hash` stays the render cache key, which also changes
-- when masthead renders differently. Empty for rows written before this column existed: the
-- next build fills it in without sending anything.
ALTER TABLE posts ADD COLUMN source_hash TEXT NOT NULL DEFAULT '';
-- Set (unix ms) when a published post's file is gone or no longer publishable; the post is
-- still served, and its Delete waits until delete_due_at. Cleared if the file comes back.
ALTER TABLE posts ADD COLUMN missing_since INTEGER;
-- When the Delete of a missing post goes out (unix ms): missing_since + the grace period.
-- NULL while missing means held: part of a mass removal waiting for `masthead publish --confirm`.
ALTER TABLE posts ADD COLUMN delete_due_at INTEGER;
CREATE INDEX posts_missing ON posts (missing_since) WHERE missing_since IS NOT NULL;
-- What a sync compares, without reading the rows' renderings (which the added columns sit
-- behind): a restart over ten thousand unchanged posts reads this index only.
CREATE INDEX posts_sync ON posts (actor, slug, hash, source_hash, source, first_seen,
                                  deleted_at, missing_since);

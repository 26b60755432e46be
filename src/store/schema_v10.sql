-- v10: a post held back because an outgoing-post plugin *failed* (a timeout, a trap, a bad
-- answer, a plugin that did not load: its on_error holds the post) is told from one a plugin
-- decided to hold. A failure may pass by itself, so masthead reviews such a post again after a
-- backoff; a decided veto waits for the content or the rules to change. Rows from before were
-- all taken as decisions (a restart reviews every post again anyway).

ALTER TABLE held_posts ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;

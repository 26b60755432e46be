-- v11: when the rebuild task reviews the posts a failing plugin held back next (`review_at`,
-- unix ms by the server's clock) and how many reviews this run of failures has had
-- (`reviews`), so `masthead status`, another process, can say when a hidden post is looked
-- at again. Only the server's rebuild task writes them; NULL and 0 on decided vetoes and
-- while no review is scheduled (rows from before: the next start schedules one).

ALTER TABLE held_posts ADD COLUMN review_at INTEGER;
ALTER TABLE held_posts ADD COLUMN reviews INTEGER NOT NULL DEFAULT 0;

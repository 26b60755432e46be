//! `interactions`: likes and boosts of our posts, counted per post and undone by activity id.
//!
//! The inbox worker gathers the changes of a batch of jobs ([`InteractionChange`]) and writes
//! them in the transaction that records those jobs' outcomes
//! ([`Store::settle_inbox_activities`]): one commit for a batch of Likes, not one per Like.

use chrono::Utc;
use rusqlite::Connection;

use super::{execute, Store, StoreError};

/// What kind of interaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InteractionKind {
    Like,
    /// An `Announce` (boost).
    Announce,
}

impl InteractionKind {
    fn as_str(self) -> &'static str {
        match self {
            InteractionKind::Like => "like",
            InteractionKind::Announce => "announce",
        }
    }
}

/// A change to `interactions`, written later (in order with the others of its batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InteractionChange {
    /// See [`Store::add_interaction`].
    Add {
        activity_id: String,
        kind: InteractionKind,
        actor: String,
        post_actor: String,
        post_slug: String,
    },
    /// The interaction `activity_id`, if `actor` made it; else, when `of` names it, `actor`'s
    /// interaction of that kind with that post (an Undo whose object id we never saw).
    Undo {
        activity_id: String,
        actor: String,
        of: Option<(InteractionKind, String, String)>,
    },
    /// Every interaction by `actor` (their account was deleted).
    RemoveBy { actor: String },
}

const ADD: &str = "INSERT OR IGNORE INTO interactions
       (activity_id, kind, actor, post_actor, post_slug, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const REMOVE: &str = "DELETE FROM interactions WHERE activity_id = ?1 AND actor = ?2";
const REMOVE_OF: &str = "DELETE FROM interactions
     WHERE kind = ?1 AND actor = ?2 AND post_actor = ?3 AND post_slug = ?4";
const REMOVE_BY: &str = "DELETE FROM interactions WHERE actor = ?1";

impl InteractionChange {
    /// Writes the change on `conn` (the writer, or a transaction on it). How many rows changed.
    pub(super) fn write(&self, conn: &Connection) -> rusqlite::Result<usize> {
        match self {
            InteractionChange::Add {
                activity_id,
                kind,
                actor,
                post_actor,
                post_slug,
            } => execute(
                conn,
                ADD,
                (
                    activity_id,
                    kind.as_str(),
                    actor,
                    post_actor,
                    post_slug,
                    Utc::now().to_rfc3339(),
                ),
            ),
            InteractionChange::Undo {
                activity_id,
                actor,
                of,
            } => match (execute(conn, REMOVE, (activity_id, actor))?, of) {
                (0, Some((kind, post_actor, post_slug))) => execute(
                    conn,
                    REMOVE_OF,
                    (kind.as_str(), actor, post_actor, post_slug),
                ),
                (n, _) => Ok(n),
            },
            InteractionChange::RemoveBy { actor } => execute(conn, REMOVE_BY, [actor]),
        }
    }
}

/// Likes and boosts of one post.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InteractionCounts {
    pub likes: u64,
    /// Boosts.
    pub shares: u64,
}

impl Store {
    /// Records a like or boost of `post_actor`/`post_slug`. One per (kind, actor, post): a repeat
    /// is ignored. Returns whether it was new.
    pub fn add_interaction(
        &self,
        activity_id: &str,
        kind: InteractionKind,
        actor: &str,
        post_actor: &str,
        post_slug: &str,
    ) -> Result<bool, StoreError> {
        let add = InteractionChange::Add {
            activity_id: activity_id.to_string(),
            kind,
            actor: actor.to_string(),
            post_actor: post_actor.to_string(),
            post_slug: post_slug.to_string(),
        };
        Ok(self.change_interactions(&[add])? > 0)
    }

    /// Writes `changes` in order, in one transaction. How many rows they changed.
    pub fn change_interactions(&self, changes: &[InteractionChange]) -> Result<usize, StoreError> {
        self.transaction(|tx| {
            changes
                .iter()
                .map(|c| c.write(tx))
                .sum::<rusqlite::Result<usize>>()
                .map_err(self.err())
        })
    }

    /// Likes and boosts of one post.
    pub fn interaction_counts(
        &self,
        post_actor: &str,
        post_slug: &str,
    ) -> Result<InteractionCounts, StoreError> {
        // An aggregate: always one row.
        let counts = self.query_opt(
            "SELECT COALESCE(SUM(kind = 'like'), 0), COALESCE(SUM(kind = 'announce'), 0)
             FROM interactions WHERE post_actor = ?1 AND post_slug = ?2",
            (post_actor, post_slug),
            |r| {
                Ok(InteractionCounts {
                    likes: r.get::<_, i64>(0)? as u64,
                    shares: r.get::<_, i64>(1)? as u64,
                })
            },
        )?;
        Ok(counts.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_count_and_undo_likes_and_boosts() {
        let s = Store::open_in_memory().unwrap();
        let a = "https://r.example/u/a";
        assert!(s
            .add_interaction(
                "https://r.example/l/1",
                InteractionKind::Like,
                a,
                "news",
                "hi"
            )
            .unwrap());
        // The same actor liking again under another id counts once.
        assert!(!s
            .add_interaction(
                "https://r.example/l/2",
                InteractionKind::Like,
                a,
                "news",
                "hi"
            )
            .unwrap());
        s.add_interaction(
            "https://r.example/b/1",
            InteractionKind::Announce,
            a,
            "news",
            "hi",
        )
        .unwrap();
        assert_eq!(
            s.interaction_counts("news", "hi").unwrap(),
            InteractionCounts {
                likes: 1,
                shares: 1
            }
        );
        let undo = |id: &str, actor: &str, of: Option<InteractionKind>| InteractionChange::Undo {
            activity_id: id.to_string(),
            actor: actor.to_string(),
            of: of.map(|k| (k, "news".to_string(), "hi".to_string())),
        };
        // Only its maker undoes an interaction.
        let other = "https://other.example/u/b";
        let like = "https://r.example/l/1";
        assert_eq!(
            s.change_interactions(&[undo(like, other, None)]).unwrap(),
            0
        );
        assert_eq!(s.change_interactions(&[undo(like, a, None)]).unwrap(), 1);
        // An Undo of an id never seen undoes the actor's interaction of that kind.
        let unseen = undo("https://r.example/b/9", a, Some(InteractionKind::Announce));
        assert_eq!(s.change_interactions(&[unseen]).unwrap(), 1);
        assert_eq!(
            s.interaction_counts("news", "hi").unwrap(),
            InteractionCounts::default()
        );
    }

    #[test]
    fn can_write_a_batch_of_changes_in_their_order() {
        let s = Store::open_in_memory().unwrap();
        let add = |id: &str, actor: &str| InteractionChange::Add {
            activity_id: id.to_string(),
            kind: InteractionKind::Like,
            actor: actor.to_string(),
            post_actor: "news".to_string(),
            post_slug: "hi".to_string(),
        };
        let (a, b) = ("https://r.example/u/a", "https://r.example/u/b");
        let batch = [
            add("https://r.example/l/1", a),
            InteractionChange::Undo {
                activity_id: "https://r.example/l/1".to_string(),
                actor: a.to_string(),
                of: None,
            },
            // Liked again after the Undo, then the account is gone, then a like by someone else.
            add("https://r.example/l/2", a),
            InteractionChange::RemoveBy {
                actor: a.to_string(),
            },
            add("https://r.example/l/3", b),
        ];
        assert_eq!(s.change_interactions(&batch).unwrap(), 5);
        assert_eq!(s.interaction_counts("news", "hi").unwrap().likes, 1);
    }
}

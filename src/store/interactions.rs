//! `interactions`: likes and boosts of our posts, counted per post and undone by activity id.

use chrono::Utc;

use super::{Store, StoreError};

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
        let n = self.execute(
            "INSERT OR IGNORE INTO interactions
               (activity_id, kind, actor, post_actor, post_slug, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            (
                activity_id,
                kind.as_str(),
                actor,
                post_actor,
                post_slug,
                Utc::now().to_rfc3339(),
            ),
        )?;
        Ok(n > 0)
    }

    /// Undoes the interaction `activity_id`, only if `actor` made it. Returns whether one existed.
    pub fn remove_interaction(&self, activity_id: &str, actor: &str) -> Result<bool, StoreError> {
        let n = self.execute(
            "DELETE FROM interactions WHERE activity_id = ?1 AND actor = ?2",
            (activity_id, actor),
        )?;
        Ok(n > 0)
    }

    /// Undoes `actor`'s interaction of `kind` with a post (an Undo whose object id we never saw).
    pub fn remove_interaction_of(
        &self,
        kind: InteractionKind,
        actor: &str,
        post_actor: &str,
        post_slug: &str,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "DELETE FROM interactions
             WHERE kind = ?1 AND actor = ?2 AND post_actor = ?3 AND post_slug = ?4",
            (kind.as_str(), actor, post_actor, post_slug),
        )?;
        Ok(n > 0)
    }

    /// Removes every interaction by `actor` (their account was deleted).
    pub fn remove_interactions_by(&self, actor: &str) -> Result<usize, StoreError> {
        self.execute("DELETE FROM interactions WHERE actor = ?1", [actor])
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
        assert!(!s
            .remove_interaction("https://r.example/l/1", "https://other.example/u/b")
            .unwrap());
        assert!(s.remove_interaction("https://r.example/l/1", a).unwrap());
        assert!(s
            .remove_interaction_of(InteractionKind::Announce, a, "news", "hi")
            .unwrap());
        assert_eq!(
            s.interaction_counts("news", "hi").unwrap(),
            InteractionCounts::default()
        );
    }
}

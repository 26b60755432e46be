//! The moderation queue's bookkeeping: who held an item for a person's decision and why
//! ([`Hold`]), and the short numbers items are named by (`r12`, `f13`) from `queue_sequence`.
//!
//! The held items themselves stay in their tables (`replies`, `followers`), which hold the queries
//! that list and decide them; this file owns what they share. Numbers come from one sequence,
//! are handed out when an item is first held and are never reused, so an id a person copied from
//! `masthead queue` names the same item until it is decided (and after: a rejected reply keeps its
//! number).

use rusqlite::Transaction;

use super::{Store, StoreError};

/// Who held an item back for a person's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeldBy {
    /// The built-in rules (`[moderation]`, a reply that is not public).
    Moderation,
    /// The actor approves its followers by hand (`manually_approves_followers`).
    ManualApproval,
    /// A plugin, by its configured name.
    Plugin(String),
}

impl HeldBy {
    /// As stored in `held_by`.
    pub(super) fn to_column(&self) -> String {
        match self {
            HeldBy::Moderation => "moderation".to_string(),
            HeldBy::ManualApproval => "manual approval".to_string(),
            HeldBy::Plugin(name) => format!("plugin:{name}"),
        }
    }

    pub(super) fn from_column(text: &str) -> HeldBy {
        match text {
            "manual approval" => HeldBy::ManualApproval,
            other => match other.strip_prefix("plugin:") {
                Some(name) => HeldBy::Plugin(name.to_string()),
                None => HeldBy::Moderation,
            },
        }
    }
}

impl std::fmt::Display for HeldBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeldBy::Moderation => f.write_str("moderation"),
            HeldBy::ManualApproval => f.write_str("manual approval"),
            HeldBy::Plugin(name) => write!(f, "plugin {name}"),
        }
    }
}

/// Why an item waits for a person (or, for a hidden reply, why it is never shown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub by: HeldBy,
    /// For the person deciding: one line, e.g. `r.example is silenced`.
    pub reason: String,
}

impl Hold {
    /// Held by `by` because of `reason`.
    pub fn new(by: HeldBy, reason: impl Into<String>) -> Hold {
        Hold {
            by,
            reason: reason.into(),
        }
    }

    /// From the `held_by` and `held_reason` columns; none when the item was never held.
    pub(super) fn from_columns(by: Option<String>, reason: Option<String>) -> Option<Hold> {
        by.map(|by| Hold {
            by: HeldBy::from_column(&by),
            reason: reason.unwrap_or_default(),
        })
    }
}

/// An item in the queue: its number (`r12` is reply or mention number 12), when it arrived
/// (RFC 3339), and the item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued<T> {
    pub no: u64,
    pub received_at: String,
    pub item: T,
}

/// The next queue number, taken inside the caller's transaction (so a rolled-back insert gives it
/// back).
pub(super) fn next_number(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    tx.prepare_cached("UPDATE queue_sequence SET last = last + 1 RETURNING last")?
        .query_row([], |r| r.get(0))
}

impl Store {
    /// Runs `f` with a fresh queue number when `held`, in one transaction with it.
    pub(super) fn with_queue_number<T>(
        &self,
        held: bool,
        f: impl FnOnce(&Transaction<'_>, Option<i64>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.transaction(|tx| {
            let no = if held {
                Some(next_number(tx).map_err(self.err())?)
            } else {
                None
            };
            f(tx, no).map_err(self.err())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FollowState, ReplyStatus, MIGRATIONS};

    #[test]
    fn can_number_and_explain_what_an_older_database_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("masthead.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO replies (id, author, post_actor, post_slug, content_html, published,
                                  status, received_at)
             VALUES ('https://r.example/n/1', 'https://r.example/u/a', 'news', 'hello', '<p>a</p>',
                     '2026-11-20T10:00:00Z', 'visible', '2026-11-20T10:00:01Z'),
                    ('https://r.example/n/2', 'https://r.example/u/a', 'news', 'hello', '<p>b</p>',
                     '2026-11-20T11:00:00Z', 'held', '2026-11-20T11:00:01Z');
             INSERT INTO followers (actor, follower, follow_id, inbox, state, created_at)
             VALUES ('desk', 'https://r.example/u/b', 'https://r.example/f/1',
                     'https://r.example/u/b/inbox', 'pending', '2026-11-20T12:00:00Z'),
                    ('news', 'https://r.example/u/c', 'https://r.example/f/2',
                     'https://r.example/u/c/inbox', 'accepted', '2026-11-20T12:00:00Z');",
        )
        .unwrap();
        drop(conn);

        let store = Store::open(dir.path()).unwrap();
        let replies = store.queued_replies(&[ReplyStatus::Held]).unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].no, 1);
        let held = &replies[0].item;
        assert_eq!(held.id, "https://r.example/n/2");
        assert!(
            !held.public,
            "what an older masthead held may have been private"
        );
        assert_eq!(held.hold.as_ref().unwrap().by, HeldBy::Moderation);
        assert_eq!(store.reply_count("news", "hello").unwrap(), 1);

        let follows = store.queued_follows().unwrap();
        assert_eq!(follows.len(), 1);
        assert_eq!(follows[0].no, 2);
        assert_eq!(
            follows[0].item.hold,
            Some(Hold::new(
                HeldBy::ManualApproval,
                "desk approves its followers by hand"
            ))
        );
        let accepted = store.follower("news", "https://r.example/u/c").unwrap();
        assert_eq!(accepted.unwrap().state, FollowState::Accepted);

        // The sequence goes on from what the migration numbered.
        store
            .upsert_follower(&crate::store::Follower {
                follow_id: "https://r.example/f/3".into(),
                hold: Some(Hold::new(
                    HeldBy::Plugin("follow-gate".into()),
                    "new account",
                )),
                ..crate::store::Follower::example("desk", "https://r.example/u/d")
            })
            .unwrap();
        assert_eq!(store.queued_follows().unwrap()[1].no, 3);
    }

    #[test]
    fn can_name_who_held_an_item_in_a_column_and_back() {
        for by in [
            HeldBy::Moderation,
            HeldBy::ManualApproval,
            HeldBy::Plugin("spam-words".into()),
        ] {
            assert_eq!(HeldBy::from_column(&by.to_column()), by);
        }
        assert_eq!(HeldBy::Plugin("faq".into()).to_string(), "plugin faq");
    }
}

//! `followers`: who follows each of our actors, and where to deliver to them.

use chrono::Utc;

use super::queue::{Hold, Queued};
use super::{execute, Store, StoreError};

/// Whether a follow is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowState {
    /// Held for a person's decision (`masthead queue`): manually_approves_followers, or a rule.
    Pending,
    /// Accepted: the follower gets our posts.
    Accepted,
}

impl FollowState {
    fn as_str(self) -> &'static str {
        match self {
            FollowState::Pending => "pending",
            FollowState::Accepted => "accepted",
        }
    }
}

impl rusqlite::types::FromSql for FollowState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Ok(match value.as_str()? {
            "accepted" => FollowState::Accepted,
            _ => FollowState::Pending,
        })
    }
}

/// One follower of one of our actors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Follower {
    /// Our handle.
    pub actor: String,
    /// The remote actor id.
    pub follower: String,
    /// Id of their Follow activity.
    pub follow_id: String,
    /// Their personal inbox.
    pub inbox: String,
    /// Their server's shared inbox, when it has one.
    pub shared_inbox: Option<String>,
    pub state: FollowState,
    /// When the follow arrived (RFC 3339).
    pub created_at: String,
    /// Who held a pending follow and why; none once accepted.
    pub hold: Option<Hold>,
}

pub(super) const COLUMNS: &str =
    "actor, follower, follow_id, inbox, shared_inbox, state, created_at, held_by, held_reason";

impl Follower {
    /// A row selected as [`COLUMNS`].
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Follower> {
        from_row!(r => Follower { actor, follower, follow_id, inbox, shared_inbox, state, created_at;
            hold: Hold::from_columns(r.get(7)?, r.get(8)?) })
    }

    /// A row selected as [`COLUMNS`], then `queue_no`.
    fn queued_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Queued<Follower>> {
        let item = Follower::from_row(r)?;
        Ok(Queued {
            no: r.get::<_, i64>(9)? as u64,
            received_at: item.created_at.clone(),
            item,
        })
    }
}

impl Store {
    /// Records (or refreshes) a follow; a pending one gets a queue number, and `f.hold` says who
    /// held it and why (the inbox and plugins hold a follow through here). A repeated Follow keeps
    /// the earlier state, hold and number unless `state` is Accepted.
    pub fn upsert_follower(&self, f: &Follower) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO followers ({COLUMNS}, queue_no)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (actor, follower) DO UPDATE SET
               follow_id = excluded.follow_id, inbox = excluded.inbox,
               shared_inbox = excluded.shared_inbox,
               state = CASE WHEN excluded.state = 'accepted' THEN 'accepted' ELSE followers.state END,
               held_by = CASE WHEN excluded.state = 'accepted' THEN NULL ELSE followers.held_by END,
               held_reason = CASE WHEN excluded.state = 'accepted' THEN NULL
                                  ELSE followers.held_reason END,
               queue_no = CASE WHEN excluded.state = 'accepted' THEN NULL ELSE followers.queue_no END"
        );
        let pending = f.state == FollowState::Pending;
        self.with_queue_number(pending, |tx, no| {
            execute(
                tx,
                &sql,
                rusqlite::params![
                    &f.actor,
                    &f.follower,
                    &f.follow_id,
                    &f.inbox,
                    &f.shared_inbox,
                    f.state.as_str(),
                    if f.created_at.is_empty() {
                        Utc::now().to_rfc3339()
                    } else {
                        f.created_at.clone()
                    },
                    f.hold.as_ref().map(|h| h.by.to_column()),
                    f.hold.as_ref().map(|h| h.reason.as_str()),
                    no,
                ],
            )
        })?;
        Ok(())
    }

    /// Sets the state of a follow (accepting one drops its hold and leaves the queue); false when
    /// there is no such follow.
    pub fn set_follow_state(
        &self,
        actor: &str,
        follower: &str,
        state: FollowState,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE followers SET state = ?3,
               held_by = CASE WHEN ?3 = 'accepted' THEN NULL ELSE held_by END,
               held_reason = CASE WHEN ?3 = 'accepted' THEN NULL ELSE held_reason END,
               queue_no = CASE WHEN ?3 = 'accepted' THEN NULL ELSE queue_no END
             WHERE actor = ?1 AND follower = ?2",
            (actor, follower, state.as_str()),
        )?;
        Ok(n > 0)
    }

    /// Pending follows, by queue number.
    pub fn queued_follows(&self) -> Result<Vec<Queued<Follower>>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {COLUMNS}, queue_no FROM followers
                 WHERE state = 'pending' AND queue_no IS NOT NULL ORDER BY queue_no"
            ),
            [],
            Follower::queued_from_row,
        )
    }

    /// The pending follow with queue number `no`.
    pub fn queued_follow(&self, no: u64) -> Result<Option<Queued<Follower>>, StoreError> {
        self.query_opt(
            &format!(
                "SELECT {COLUMNS}, queue_no FROM followers
                 WHERE state = 'pending' AND queue_no = ?1"
            ),
            [no as i64],
            Follower::queued_from_row,
        )
    }

    /// One follow of `actor` by `follower`.
    pub fn follower(&self, actor: &str, follower: &str) -> Result<Option<Follower>, StoreError> {
        self.query_opt(
            &format!("SELECT {COLUMNS} FROM followers WHERE actor = ?1 AND follower = ?2"),
            (actor, follower),
            Follower::from_row,
        )
    }

    /// Followers of `actor` in `state`, oldest first.
    pub fn followers(&self, actor: &str, state: FollowState) -> Result<Vec<Follower>, StoreError> {
        self.followers_of_any(Some(actor), state)
    }

    /// The distinct inboxes that reach every accepted follower of `actor`: one per shared inbox,
    /// else the personal inbox (GoToSocial has no shared inbox).
    pub fn follower_inboxes(&self, actor: &str) -> Result<Vec<String>, StoreError> {
        self.query_all(
            "SELECT DISTINCT COALESCE(shared_inbox, inbox) FROM followers
             WHERE actor = ?1 AND state = 'accepted' ORDER BY 1",
            [actor],
            |r| r.get(0),
        )
    }

    /// Removes a follow (Undo, Reject by the operator, Block). Returns whether one existed.
    pub fn remove_follower(&self, actor: &str, follower: &str) -> Result<bool, StoreError> {
        let n = self.execute(
            "DELETE FROM followers WHERE actor = ?1 AND follower = ?2",
            (actor, follower),
        )?;
        Ok(n > 0)
    }

    /// Removes the follow `follow_id` by `follower` (an Undo naming only the Follow's id).
    pub fn remove_follow_by_id(
        &self,
        follower: &str,
        follow_id: &str,
    ) -> Result<usize, StoreError> {
        self.execute(
            "DELETE FROM followers WHERE follower = ?1 AND follow_id = ?2",
            (follower, follow_id),
        )
    }

    /// Followers of any of our actors in `state` (all of them when `actor` is `None`).
    pub fn followers_of_any(
        &self,
        actor: Option<&str>,
        state: FollowState,
    ) -> Result<Vec<Follower>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {COLUMNS} FROM followers WHERE (?1 IS NULL OR actor = ?1) AND state = ?2
                 ORDER BY created_at, actor, follower"
            ),
            (actor, state.as_str()),
            Follower::from_row,
        )
    }

    /// Removes every follow by `follower` of any of our actors (their actor was deleted).
    pub fn remove_follower_everywhere(&self, follower: &str) -> Result<usize, StoreError> {
        self.execute("DELETE FROM followers WHERE follower = ?1", [follower])
    }

    /// Removes followers whose delivery inbox is `inbox` (it answered 410 Gone).
    pub fn remove_followers_at_inbox(&self, inbox: &str) -> Result<usize, StoreError> {
        self.execute(
            "DELETE FROM followers WHERE COALESCE(shared_inbox, inbox) = ?1 OR inbox = ?1",
            [inbox],
        )
    }

    /// Re-points follows from `old` to `new` (a follower moved accounts).
    pub fn move_follower(
        &self,
        old: &str,
        new: &str,
        inbox: &str,
        shared_inbox: Option<&str>,
    ) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE OR REPLACE followers SET follower = ?2, inbox = ?3, shared_inbox = ?4 WHERE follower = ?1",
            (old, new, inbox, shared_inbox),
        )
    }
}

#[cfg(test)]
impl Follower {
    /// A pending follow of `actor` by `follower` (Follow `{follower}#follows/1`, inbox
    /// `{follower}/inbox`, no shared inbox, no time, not held): the tests of every room change
    /// only what they are about.
    pub(crate) fn example(actor: &str, follower: &str) -> Follower {
        Follower {
            actor: actor.into(),
            follower: follower.into(),
            follow_id: format!("{follower}#follows/1"),
            inbox: format!("{follower}/inbox"),
            shared_inbox: None,
            state: FollowState::Pending,
            created_at: String::new(),
            hold: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A follow of `news` by `follower`, its inbox under the follower's id.
    fn row(follower: &str, shared: Option<&str>, state: FollowState) -> Follower {
        Follower {
            follow_id: format!("{follower}#follow"),
            shared_inbox: shared.map(str::to_string),
            state,
            ..Follower::example("news", follower)
        }
    }

    /// Records each (follower, shared inbox, state) as a follow of `news`.
    fn follow(s: &Store, follows: &[(&str, Option<&str>, FollowState)]) {
        for (follower, shared, state) in follows {
            s.upsert_follower(&row(follower, *shared, *state)).unwrap();
        }
    }

    #[test]
    fn can_fan_out_once_per_shared_inbox() {
        let s = Store::open_in_memory().unwrap();
        let (a, b) = (
            Some("https://a.example/inbox"),
            Some("https://b.example/inbox"),
        );
        follow(
            &s,
            &[
                ("https://a.example/u/1", a, FollowState::Accepted),
                ("https://a.example/u/2", a, FollowState::Accepted),
                ("https://gts.example/u/3", None, FollowState::Accepted),
                ("https://b.example/u/4", b, FollowState::Pending),
            ],
        );
        assert_eq!(
            s.follower_inboxes("news").unwrap(),
            vec![
                "https://a.example/inbox".to_string(),
                "https://gts.example/u/3/inbox".to_string()
            ]
        );
        assert_eq!(s.followers("news", FollowState::Accepted).unwrap().len(), 3);
    }

    #[test]
    fn can_keep_an_accepted_follow_accepted_on_a_repeated_follow() {
        let s = Store::open_in_memory().unwrap();
        let id = "https://a.example/u/1";
        follow(
            &s,
            &[
                (id, None, FollowState::Accepted),
                (id, None, FollowState::Pending),
            ],
        );
        assert_eq!(
            s.follower("news", "https://a.example/u/1")
                .unwrap()
                .unwrap()
                .state,
            FollowState::Accepted
        );
    }

    #[test]
    fn can_hold_a_follow_under_a_number_that_is_never_reused() {
        let s = Store::open_in_memory().unwrap();
        let held = |follower: &str, reason: &str| Follower {
            hold: Some(Hold::new(crate::store::HeldBy::ManualApproval, reason)),
            ..row(follower, None, FollowState::Pending)
        };
        s.upsert_follower(&held("https://a.example/u/1", "first"))
            .unwrap();
        s.upsert_follower(&held("https://a.example/u/2", "second"))
            .unwrap();
        // A repeated Follow keeps its number and its reason.
        s.upsert_follower(&held("https://a.example/u/1", "again"))
            .unwrap();
        let queue = s.queued_follows().unwrap();
        assert_eq!(
            queue
                .iter()
                .map(|q| (q.no, q.item.hold.as_ref().unwrap().reason.as_str()))
                .collect::<Vec<_>>(),
            vec![(1, "first"), (2, "second")]
        );
        assert_eq!(
            s.queued_follow(2).unwrap().unwrap().item.follower,
            "https://a.example/u/2"
        );
        s.set_follow_state("news", "https://a.example/u/1", FollowState::Accepted)
            .unwrap();
        let accepted = s
            .follower("news", "https://a.example/u/1")
            .unwrap()
            .unwrap();
        assert_eq!(accepted.hold, None);
        assert!(s.queued_follow(1).unwrap().is_none());
        s.remove_follower("news", "https://a.example/u/2").unwrap();
        s.upsert_follower(&held("https://a.example/u/2", "back"))
            .unwrap();
        assert_eq!(s.queued_follows().unwrap()[0].no, 4);
    }

    #[test]
    fn can_remove_and_move_followers() {
        let s = Store::open_in_memory().unwrap();
        follow(
            &s,
            &[
                (
                    "https://a.example/u/1",
                    Some("https://a.example/inbox"),
                    FollowState::Accepted,
                ),
                ("https://c.example/u/2", None, FollowState::Accepted),
            ],
        );
        assert_eq!(
            s.move_follower(
                "https://c.example/u/2",
                "https://d.example/u/2",
                "https://d.example/u/2/inbox",
                None
            )
            .unwrap(),
            1
        );
        assert!(s
            .follower("news", "https://d.example/u/2")
            .unwrap()
            .is_some());
        assert_eq!(
            s.remove_followers_at_inbox("https://a.example/inbox")
                .unwrap(),
            1
        );
        assert!(s.remove_follower("news", "https://d.example/u/2").unwrap());
        assert!(s
            .followers("news", FollowState::Accepted)
            .unwrap()
            .is_empty());
    }
}

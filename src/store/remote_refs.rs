//! `remote_refs`: what the mentions and replies of our posts name, as resolved over the network.
//!
//! A key is `acct:user@host` for a mention or the note URL for an `in_reply_to`. A successful row
//! holds the actor it names (the Mention tag and the inbox to deliver to); a failed one holds the
//! error, so the caller can wait before trying again. Resolving is `federation::addressing`'s.

use std::collections::HashMap;

use super::{query_opt, Store, StoreError};

/// A remote actor a post is addressed to: tagged as a Mention, in `cc`, delivered to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressee {
    /// The actor id (the Mention's `href`).
    pub actor_id: String,
    /// Where to deliver: its shared inbox, else its inbox.
    pub inbox: String,
    /// `@user@host` (the Mention's `name`).
    pub name: String,
}

impl Store {
    /// Records that `key` names `addressee`, resolved at `now_ms`.
    pub fn save_resolved_ref(
        &self,
        key: &str,
        addressee: &Addressee,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR REPLACE INTO remote_refs (key, actor_id, inbox, name, resolved_at, error)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            (
                key,
                &addressee.actor_id,
                &addressee.inbox,
                &addressee.name,
                now_ms,
            ),
        )?;
        Ok(())
    }

    /// Records that resolving `key` failed at `now_ms` with `error`. What an earlier attempt
    /// resolved, if anything, is kept: a host down for a while does not unaddress a post.
    pub fn save_failed_ref(&self, key: &str, error: &str, now_ms: i64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO remote_refs (key, resolved_at, error) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET resolved_at = excluded.resolved_at,
               error = excluded.error",
            (key, now_ms, error),
        )?;
        Ok(())
    }

    /// Every key that resolved to an actor, with it.
    pub fn resolved_refs(&self) -> Result<HashMap<String, Addressee>, StoreError> {
        self.query_all(
            "SELECT key, actor_id, inbox, name FROM remote_refs
             WHERE actor_id IS NOT NULL AND inbox IS NOT NULL",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Addressee {
                        actor_id: r.get(1)?,
                        inbox: r.get(2)?,
                        name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    },
                ))
            },
        )
    }

    /// The keys among `keys` worth resolving at `now_ms`: never tried, or failed (without ever
    /// resolving) at least `retry_after_ms` ago.
    pub fn unsettled_refs(
        &self,
        keys: &[String],
        now_ms: i64,
        retry_after_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut out = Vec::new();
        for key in keys {
            let row: Option<(Option<String>, i64)> = query_opt(
                &conn,
                "SELECT actor_id, resolved_at FROM remote_refs WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
            let settled = match row {
                Some((Some(_), _)) => true,
                Some((None, at)) => now_ms - at < retry_after_ms,
                None => false,
            };
            if !settled && !out.contains(key) {
                out.push(key.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Addressee {
        Addressee {
            actor_id: "https://m.example/users/ann".into(),
            inbox: "https://m.example/inbox".into(),
            name: "@ann@m.example".into(),
        }
    }

    #[test]
    fn can_settle_a_resolved_ref_for_good_and_a_failed_one_for_a_while() {
        let store = Store::open_in_memory().unwrap();
        let keys = vec![
            "acct:ann@m.example".to_string(),
            "acct:bob@dead.example".into(),
        ];
        assert_eq!(store.unsettled_refs(&keys, 1_000, 100).unwrap(), keys);
        store.save_resolved_ref(&keys[0], &ann(), 1_000).unwrap();
        store.save_failed_ref(&keys[1], "timed out", 1_000).unwrap();
        assert!(store.unsettled_refs(&keys, 1_050, 100).unwrap().is_empty());
        assert_eq!(
            store.unsettled_refs(&keys, 1_100, 100).unwrap(),
            vec![keys[1].clone()]
        );
        let resolved = store.resolved_refs().unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[&keys[0]], ann());
    }

    #[test]
    fn can_keep_what_resolved_when_a_later_attempt_fails() {
        let store = Store::open_in_memory().unwrap();
        store
            .save_resolved_ref("acct:ann@m.example", &ann(), 1)
            .unwrap();
        store
            .save_failed_ref("acct:ann@m.example", "refused", 2)
            .unwrap();
        assert_eq!(store.resolved_refs().unwrap()["acct:ann@m.example"], ann());
    }
}

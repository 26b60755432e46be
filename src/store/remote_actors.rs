//! `remote_actors` and `hosts.last_key_refetch`: the cache of other servers' actors and their keys,
//! and the per-host limit on refetching a key after a failed verification.
//!
//! What goes in is decided by `federation::fetch` (which checks ids and content types); this module
//! only remembers it.
//!
//! The actors read by id are also kept in memory ([`MAX_CACHED_ACTORS`], [`MAX_CACHED_ACTOR_BYTES`]),
//! since the inbox reads its signer's at every request: every method here that writes the table
//! updates that copy in the same call (see `store::cache`).

use super::cache::ReadCache;
use super::{Store, StoreError};

/// Most actors kept in memory by id (present or known absent).
pub const MAX_CACHED_ACTORS: usize = 1024;

/// About the most bytes of actors kept in memory (their documents weigh the most).
pub const MAX_CACHED_ACTOR_BYTES: usize = 2 * 1024 * 1024;

pub(super) fn actor_cache() -> ReadCache<Option<RemoteActor>> {
    ReadCache::new(MAX_CACHED_ACTORS, MAX_CACHED_ACTOR_BYTES)
}

/// An entry's weight: its text, and a little for the row itself.
fn weight(a: &Option<RemoteActor>) -> usize {
    let Some(a) = a else { return 64 };
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    256 + a.id.len()
        + a.inbox.len()
        + a.document.len()
        + opt(&a.shared_inbox)
        + opt(&a.key_id)
        + opt(&a.public_key_pem)
        + opt(&a.handle)
        + opt(&a.name)
        + opt(&a.url)
}

/// A remote actor as last fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteActor {
    /// The actor id (equal to the URL it was fetched from).
    pub id: String,
    pub inbox: String,
    /// `endpoints.sharedInbox`, when the server has one.
    pub shared_inbox: Option<String>,
    /// `publicKey.id`.
    pub key_id: Option<String>,
    /// `publicKey.publicKeyPem`.
    pub public_key_pem: Option<String>,
    /// `preferredUsername@host`, for people reading lists.
    pub handle: Option<String>,
    pub name: Option<String>,
    /// Profile page.
    pub url: Option<String>,
    /// The JSON document as fetched.
    pub document: String,
    /// When it was fetched (unix ms).
    pub fetched_at: i64,
}

pub(super) const COLUMNS: &str =
    "id, inbox, shared_inbox, key_id, public_key_pem, handle, name, url, document, fetched_at";

impl RemoteActor {
    /// A row selected as [`COLUMNS`].
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RemoteActor> {
        from_row!(r => RemoteActor { id, inbox, shared_inbox, key_id, public_key_pem, handle, name,
            url, document, fetched_at })
    }
}

impl Store {
    /// Stores (or replaces) a fetched actor.
    pub fn upsert_remote_actor(&self, a: &RemoteActor) -> Result<(), StoreError> {
        let written = self.execute(
            &format!("INSERT OR REPLACE INTO remote_actors ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            rusqlite::params![
                a.id,
                a.inbox,
                a.shared_inbox,
                a.key_id,
                a.public_key_pem,
                a.handle,
                a.name,
                a.url,
                a.document,
                a.fetched_at
            ],
        );
        self.actors.forget(&a.id);
        written.map(drop)
    }

    /// The cached actor with this id (from memory when read before and not written since).
    pub fn remote_actor(&self, id: &str) -> Result<Option<RemoteActor>, StoreError> {
        self.actors.get_or_load(id, weight, || {
            self.query_opt(
                &format!("SELECT {COLUMNS} FROM remote_actors WHERE id = ?1"),
                [id],
                RemoteActor::from_row,
            )
        })
    }

    /// The cached actor whose `publicKey.id` is `key_id`.
    pub fn remote_actor_by_key(&self, key_id: &str) -> Result<Option<RemoteActor>, StoreError> {
        self.query_opt(
            &format!("SELECT {COLUMNS} FROM remote_actors WHERE key_id = ?1 LIMIT 1"),
            [key_id],
            RemoteActor::from_row,
        )
    }

    /// Forgets a cached actor (it was deleted). Returns whether one was cached.
    pub fn delete_remote_actor(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.execute("DELETE FROM remote_actors WHERE id = ?1", [id]);
        self.actors.forget(id);
        Ok(n? > 0)
    }

    /// Claims the right to refetch a key from `host` now: true (and the time recorded) when the
    /// last refetch from that host was at least `min_interval_ms` ago or never happened.
    pub fn claim_key_refetch(
        &self,
        host: &str,
        now_ms: i64,
        min_interval_ms: i64,
    ) -> Result<bool, StoreError> {
        // One statement, so two inbox requests racing cannot both claim it. (It may add the
        // host's row; its delivery health stays the default.)
        let n = self.execute(
            "INSERT INTO hosts (host, last_key_refetch) VALUES (?1, ?2)
             ON CONFLICT (host) DO UPDATE SET last_key_refetch = excluded.last_key_refetch
             WHERE hosts.last_key_refetch IS NULL OR hosts.last_key_refetch <= ?2 - ?3",
            (host, now_ms, min_interval_ms),
        )?;
        Ok(n > 0)
    }

    /// Keeps at most `per_host` cached actors of each host (by the authority of their id), the
    /// most recently fetched; actors that follow us or wrote a stored reply are always kept and
    /// not counted, since their names and inboxes are shown and used. Returns how many went.
    pub fn prune_remote_actors(&self, per_host: usize) -> Result<usize, StoreError> {
        let pruned = self.execute(
            "WITH rest AS (
               SELECT id, fetched_at, substr(id, instr(id, '://') + 3) AS tail FROM remote_actors
               WHERE id NOT IN (SELECT follower FROM followers)
                 AND id NOT IN (SELECT author FROM replies)
             ),
             ranked AS (
               SELECT id, ROW_NUMBER() OVER (
                 PARTITION BY CASE WHEN instr(tail, '/') > 0
                                   THEN substr(tail, 1, instr(tail, '/') - 1) ELSE tail END
                 ORDER BY fetched_at DESC, id
               ) AS n FROM rest
             )
             DELETE FROM remote_actors WHERE id IN (SELECT id FROM ranked WHERE n > ?1)",
            [i64::try_from(per_host).unwrap_or(i64::MAX)],
        );
        self.actors.forget_all();
        pruned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(id: &str) -> RemoteActor {
        RemoteActor {
            id: id.into(),
            inbox: format!("{id}/inbox"),
            shared_inbox: None,
            key_id: Some(format!("{id}#main-key")),
            public_key_pem: Some("PEM".into()),
            handle: Some("a@r.example".into()),
            name: None,
            url: None,
            document: "{}".into(),
            fetched_at: 1,
        }
    }

    #[test]
    fn can_find_an_actor_by_id_and_key() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_remote_actor(&actor("https://r.example/u/a"))
            .unwrap();
        assert!(s.remote_actor("https://r.example/u/a").unwrap().is_some());
        let by_key = s
            .remote_actor_by_key("https://r.example/u/a#main-key")
            .unwrap()
            .unwrap();
        assert_eq!(by_key.id, "https://r.example/u/a");
        assert!(s.delete_remote_actor("https://r.example/u/a").unwrap());
        assert!(s.remote_actor("https://r.example/u/a").unwrap().is_none());
    }

    #[test]
    fn can_see_each_write_at_the_next_read_of_a_cached_actor() {
        let s = Store::open_in_memory().unwrap();
        let id = "https://r.example/u/a";
        // Known absent, then written: the next read sees it.
        assert!(s.remote_actor(id).unwrap().is_none());
        s.upsert_remote_actor(&actor(id)).unwrap();
        assert_eq!(
            s.remote_actor(id)
                .unwrap()
                .unwrap()
                .public_key_pem
                .as_deref(),
            Some("PEM")
        );
        // A rotated key (a refetch, an Update): seen at once.
        let mut rotated = actor(id);
        rotated.public_key_pem = Some("NEW PEM".into());
        s.upsert_remote_actor(&rotated).unwrap();
        assert_eq!(s.remote_actor(id).unwrap(), Some(rotated));
        // Deleted (a Delete, a Move's old account): gone at once.
        assert!(s.delete_remote_actor(id).unwrap());
        assert!(s.remote_actor(id).unwrap().is_none());
        // Pruned: gone at once.
        for (n, at) in [(1, 1), (2, 2)] {
            let mut a = actor(&format!("https://r.example/u/{n}"));
            a.fetched_at = at;
            s.upsert_remote_actor(&a).unwrap();
            assert!(s.remote_actor(&a.id).unwrap().is_some());
        }
        assert_eq!(s.prune_remote_actors(1).unwrap(), 1);
        assert!(s.remote_actor("https://r.example/u/1").unwrap().is_none());
        assert!(s.remote_actor("https://r.example/u/2").unwrap().is_some());
    }

    #[test]
    fn can_refetch_a_key_once_per_interval_per_host() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.claim_key_refetch("r.example", 1_000, 600_000).unwrap());
        assert!(!s.claim_key_refetch("r.example", 2_000, 600_000).unwrap());
        assert!(s
            .claim_key_refetch("other.example", 2_000, 600_000)
            .unwrap());
        assert!(s.claim_key_refetch("r.example", 601_000, 600_000).unwrap());
    }

    #[test]
    fn can_cap_cached_actors_per_host_keeping_followers_and_reply_authors() {
        let s = Store::open_in_memory().unwrap();
        for (id, at) in [
            ("https://r.example/u/1", 1),
            ("https://r.example/u/2", 2),
            ("https://r.example/u/3", 3),
            ("https://r.example/u/follower", 0),
            ("https://other.example/u/1", 1),
        ] {
            let mut a = actor(id);
            a.fetched_at = at;
            s.upsert_remote_actor(&a).unwrap();
        }
        s.execute(
            "INSERT INTO followers (actor, follower, follow_id, inbox, state, created_at)
             VALUES ('news', 'https://r.example/u/follower', 'f', 'i', 'accepted', 'now')",
            [],
        )
        .unwrap();
        assert_eq!(s.prune_remote_actors(2).unwrap(), 1);
        let kept = |id: &str| s.remote_actor(id).unwrap().is_some();
        assert!(!kept("https://r.example/u/1"), "the oldest fetched goes");
        assert!(kept("https://r.example/u/2") && kept("https://r.example/u/3"));
        assert!(kept("https://r.example/u/follower"));
        assert!(kept("https://other.example/u/1"));
    }
}

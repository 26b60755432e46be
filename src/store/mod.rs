//! The embedded SQLite store: schema, migrations, and the queries of each table.
//!
//! This module owns everything masthead must remember across restarts: actor keypairs (generated
//! once, never regenerated), the post index with content hashes and first-seen times, the
//! tombstones of posts that were published and are gone, followers, the moderation queue (what
//! waits for a person's decision, and why), the outgoing delivery queue
//! and per-host delivery health, what mentions and replies resolved to, and the publications
//! waiting for that, and what plugins keep (their key-value stores, their labels and notes). It
//! does not decide what to publish. `backup` copies it while it runs and puts a copy back.
//!
//! Writes go through one connection behind a std `Mutex`; reads of a database file go through
//! [`READERS`] more (WAL mode lets them read while the writer writes), so the inbox's key and
//! actor look-ups do not wait behind its inserts. Every query is short and no lock is held across
//! an `.await`; statements are prepared once per connection and cached. A read sees every write
//! that returned before it began. The narrow API here is what a PostgreSQL store would implement
//! later.
//!
//! The store depends on nothing above it: its rows are its own types, and what it keeps for other
//! modules (a post's rendering) it keeps as an opaque string that the caller encodes and decodes.

/// `Ok(Ty { a: row.get(0)?, b: row.get(1)?, .. })`: a struct read from a row whose columns are its
/// fields, in the order named, so a mapping names each field once and no index can drift from its
/// column. A column that needs decoding reads as a [`rusqlite::types::FromSql`] type (the state
/// enums implement it beside their tables). After a `;` come fields made some other way (of
/// several columns, or not from the row), written as in a struct expression.
macro_rules! from_row {
    ($row:expr => $ty:ident { $($column:ident),+ $(; $($rest:tt)*)? }) => {{
        let row: &rusqlite::Row<'_> = $row;
        let mut next = 0;
        let mut column = || {
            next += 1;
            next - 1
        };
        Ok($ty { $($column: row.get(column())?,)+ $($($rest)*)? })
    }};
}

mod auto_replies;
mod backup;
mod cache;
mod deliveries;
mod delivery_status;
mod followers;
mod held_posts;
mod hosts;
mod inbox;
mod interactions;
mod keys;
mod pending_publications;
mod people;
mod plugin_kv;
mod posts;
mod queue;
mod remote_actors;
mod remote_refs;
mod replies;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Params, Row, Transaction};

pub use auto_replies::AutoReply;
pub use backup::{inspect_backup, stage_restore, BackupError, BackupInfo, Restored, Staged};
pub use deliveries::{inbox_host, Delivery, DeliveryState, NewDelivery};
pub use delivery_status::{ActorQueue, HostQueue, OnHold, Publish};
pub use followers::{FollowState, Follower};
pub use held_posts::{HeldPost, NextReview};
pub use hosts::HostHealth;
pub use inbox::{ArrivedActivity, InboxActivity, JobOutcome, NewInboxActivity};
pub use interactions::{InteractionChange, InteractionCounts, InteractionKind};
pub use keys::{ActorKeys, KeyPair, INSTANCE_KEY};
pub use pending_publications::{PendingChange, PendingPublication};
pub use people::{
    Forgotten, ItemMark, Parting, PersonActivity, PersonData, PersonInteraction, PersonRef,
    PersonReply, PluginKv,
};
pub use plugin_kv::{KvFull, PluginMark};
pub use posts::{
    HeldRemoval, NewPost, PostChange, PostRow, Rendering, Renderings, Scope, SyncPolicy,
    SyncReport, Tombstone,
};
pub use queue::{HeldBy, Hold, Queued};
pub use remote_actors::RemoteActor;
pub use remote_refs::Addressee;
pub use replies::{Reply, ReplyAuthor, ReplyStatus, Report};

/// Errors from the store; each names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or a query failed.
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The data directory could not be created or secured.
    #[error(
        "data directory {path}: {source} (check that masthead may write there, or pass --data-dir)"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database was written by a newer masthead.
    #[error("database {path} has schema version {found}, newer than this masthead knows ({known}); upgrade masthead")]
    TooNew {
        path: PathBuf,
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A key could not be generated or encoded.
    #[error("key for {handle}: {message}")]
    Key { handle: String, message: String },
    /// A stored row could not be decoded (or a value could not be encoded for storage).
    #[error("database {path}: corrupt row: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// The store handle; cheap to share behind an `Arc`.
pub struct Store {
    conn: Mutex<Connection>,
    /// Read-only connections to the same file (none in memory, where the writer reads too).
    readers: Vec<Mutex<Connection>>,
    path: PathBuf,
    group_commit: inbox::GroupCommit,
    /// Cached actors by id, in front of `remote_actors` ([`Store::remote_actor`]).
    actors: cache::ReadCache<Option<RemoteActor>>,
    /// Delivery health by host, in front of `hosts` ([`Store::host_health`]).
    health: cache::ReadCache<HostHealth>,
}

/// Connections that only read, beside the writer: one per core of a small machine.
const READERS: usize = 2;

/// The page cache of each connection, in KiB (SQLite's default is 2,000 KiB each, 6 MiB for the
/// three). The pages are in the OS's file cache anyway, so a smaller cache costs a `pread` now
/// and then, not a disk read. With [`Store::release_memory`] after a full build it took a
/// 10,000-post site from 43.8 to 40.6 MiB idle and its fan-out peak from 74 to 68 MiB, with
/// start and restart times unchanged within noise (scripts/bench.sh memory, cold-start,
/// unchanged-restart).
const PAGE_CACHE_KIB: i64 = 1024;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Append only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
    include_str!("schema_v7.sql"),
    include_str!("schema_v8.sql"),
    include_str!("schema_v9.sql"),
    include_str!("schema_v10.sql"),
    include_str!("schema_v11.sql"),
];

/// The schema version this build migrates a database to (`PRAGMA user_version`).
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

impl Store {
    /// Opens (creating if needed) `masthead.db` in `data_dir`, readable by the owner only.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        let path = data_dir.join("masthead.db");
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(data_dir))?;
            // Create the file 0600 before SQLite opens it; SQLite gives the -wal and -shm files
            // the same mode as the database, so private keys never sit in a world-readable file.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(io(&path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(io(&path))?;
        }
        let conn = Connection::open(&path).map_err(sqlite(&path))?;
        let mut store = Store::init(conn, path)?;
        for _ in 0..READERS {
            let reader = Connection::open(&store.path).map_err(store.err())?;
            reader
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(store.err())?;
            reader
                .pragma_update(None, "query_only", "ON")
                .map_err(store.err())?;
            reader
                .pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
                .map_err(store.err())?;
            store.readers.push(Mutex::new(reader));
        }
        Ok(store)
    }

    /// The database in `data_dir` opened read-only, for `check` to tell new posts from published
    /// ones; `None` when there is none yet (nothing was ever served from there). Nothing is
    /// created or migrated.
    pub fn open_read_only(data_dir: &Path) -> Result<Option<Store>, StoreError> {
        let path = data_dir.join("masthead.db");
        if !path.is_file() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite(&path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite(&path))?;
        Ok(Some(Store {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            path,
            group_commit: Default::default(),
            actors: cache::ReadCache::off(),
            health: cache::ReadCache::off(),
        }))
    }

    /// A store in memory, for tests and `check`.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(sqlite(&path))?;
        Store::init(conn, path)
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite(&path))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite(&path))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite(&path))?;
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
            .map_err(sqlite(&path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite(&path))?;
        let store = Store {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            path,
            group_commit: Default::default(),
            actors: remote_actors::actor_cache(),
            health: hosts::health_cache(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(sqlite(&self.path))?;
            tx.execute_batch(sql).map_err(sqlite(&self.path))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(sqlite(&self.path))?;
            tx.commit().map_err(sqlite(&self.path))?;
            tracing::info!(version = i + 1, db = %self.path.display(), "applied store migration");
        }
        Ok(())
    }

    /// A [`StoreError::Corrupt`] naming this database, for callers that encode or decode what
    /// the store keeps opaque (a post's rendering).
    pub fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            message,
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each call is one statement or
        // one transaction), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to read with: a free reader, else the writer when it is free, else the
    /// first reader once it is.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        use std::sync::TryLockError;
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(conn) => return conn,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        match self.readers.first() {
            None => self.conn(),
            Some(first) => match self.conn.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => first.lock().unwrap_or_else(|p| p.into_inner()),
            },
        }
    }

    /// Gives back the page cache of every connection (`PRAGMA shrink_memory`). A full catalog
    /// build reads every stored rendering once and leaves each cache full (up to
    /// [`PAGE_CACHE_KIB`]); the pages are in the OS's file cache anyway, and what later requests
    /// read fills a cache again as needed.
    pub fn release_memory(&self) -> Result<(), StoreError> {
        let shrink = |conn: &Connection| conn.execute_batch("PRAGMA shrink_memory");
        shrink(&self.conn()).map_err(self.err())?;
        for reader in &self.readers {
            shrink(&reader.lock().unwrap_or_else(|p| p.into_inner())).map_err(self.err())?;
        }
        Ok(())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        sqlite(&self.path)
    }

    /// Runs one statement; returns how many rows it changed.
    fn execute(&self, sql: &str, params: impl Params) -> Result<usize, StoreError> {
        execute(&self.conn(), sql, params).map_err(self.err())
    }

    /// Every row `sql` selects, mapped by `map`, collected (into a `Vec`, a map, ...).
    fn query_all<T, C: FromIterator<T>>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<C, StoreError> {
        query_all(&self.reader(), sql, params, map).map_err(self.err())
    }

    /// The first row `sql` selects, if any, mapped by `map`.
    fn query_opt<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        query_opt(&self.reader(), sql, params, map).map_err(self.err())
    }

    /// Runs `f` in one transaction, committed when it returns `Ok` (rolled back otherwise).
    fn transaction<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let out = f(&tx)?;
        tx.commit().map_err(self.err())?;
        Ok(out)
    }
}

// The same helpers on a connection or transaction the caller holds. Statements are cached: the
// same few SQL strings run over and over.

fn execute(conn: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn query_all<T, C: FromIterator<T>>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<C> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, map)?;
    rows.collect()
}

fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    conn.prepare_cached(sql)?.query_row(params, map).optional()
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A database migrated to schema `version` only, with `rows` run in it: what an older
    /// masthead left, for a migration test to carry on from.
    pub(in crate::store) fn db_at_version(version: usize, rows: &str) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(rows).unwrap();
        conn
    }

    fn schema_version(store: &Store) -> i64 {
        store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn can_migrate_a_new_database_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(schema_version(&store), MIGRATIONS.len() as i64);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(schema_version(&store), MIGRATIONS.len() as i64);
    }

    #[test]
    fn can_cap_the_page_cache_of_every_connection_and_give_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cache = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "cache_size", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(cache(&store.conn()), -PAGE_CACHE_KIB);
        assert_eq!(store.readers.len(), READERS);
        for reader in &store.readers {
            assert_eq!(cache(&reader.lock().unwrap()), -PAGE_CACHE_KIB);
        }
        store.release_memory().unwrap();
        assert_eq!(schema_version(&store), MIGRATIONS.len() as i64);
    }

    #[cfg(unix)]
    #[test]
    fn can_keep_the_database_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data).unwrap();
        store.actor_key("news").unwrap();
        for f in ["masthead.db", "masthead.db-wal"] {
            let mode = std::fs::metadata(data.join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} has mode {mode:o}");
        }
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    fn can_read_while_the_writer_is_held_and_see_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .execute(
                "INSERT INTO hosts (host, last_key_refetch) VALUES ('a.example', 3)",
                [],
            )
            .unwrap();
        let writer = store.conn();
        let refetched: Option<i64> = store
            .query_opt(
                "SELECT last_key_refetch FROM hosts WHERE host = 'a.example'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(refetched, Some(3));
        drop(writer);
    }

    #[test]
    fn rejects_a_database_from_a_newer_masthead() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join("masthead.db")).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }
}

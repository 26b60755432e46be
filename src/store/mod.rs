//! The embedded SQLite store: schema, migrations, and the queries of each table.
//!
//! This module owns everything masthead must remember across restarts: actor keypairs (generated
//! once, never regenerated), the post index with content hashes and first-seen times, the
//! tombstones of posts that were published and are gone, followers, the outgoing delivery queue
//! and per-host delivery health, what mentions and replies resolved to, and the publications
//! waiting for that. It does not decide what to publish.
//!
//! The connection lives behind a std `Mutex`; every query is short and no lock is held across an
//! `.await`. The narrow API here is what a PostgreSQL store would implement later.

mod deliveries;
mod followers;
mod hosts;
mod inbox;
mod interactions;
mod keys;
mod pending_publications;
mod posts;
mod remote_actors;
mod remote_refs;
mod replies;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

pub use deliveries::{inbox_host, Delivery, DeliveryState, HostQueue, NewDelivery};
pub use followers::{FollowState, Follower};
pub use hosts::{utc_day, HostHealth};
pub use inbox::{InboxActivity, NewInboxActivity};
pub use interactions::{InteractionCounts, InteractionKind};
pub use keys::{ActorKeys, KeyPair, INSTANCE_KEY};
pub use pending_publications::{PendingChange, PendingPublication};
pub use posts::{PostChange, PostRecord, SyncReport, Tombstone};
pub use remote_actors::RemoteActor;
pub use remote_refs::Addressee;
pub use replies::{Reply, ReplyStatus, Report};

/// Errors from the store; each names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or a query failed.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The data directory could not be created or secured.
    #[error(
        "data directory {path}: {source} (check that masthead may write there, or pass --data-dir)"
    )]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database was written by a newer masthead.
    #[error("database {path} has schema version {found}, newer than this masthead knows ({known}); upgrade masthead")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A key could not be generated or encoded.
    #[error("key for {handle}: {message}")]
    Key {
        /// The actor.
        handle: String,
        /// What failed.
        message: String,
    },
    /// A stored row could not be decoded.
    #[error("database {path}: corrupt row: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// The store handle; cheap to share behind an `Arc`.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Append only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[include_str!("schema_v1.sql"), include_str!("schema_v2.sql")];

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
        Store::init(conn, path)
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
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite(&path))?;
        let store = Store {
            conn: Mutex::new(conn),
            path,
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

    /// The schema version now in force.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each call is one statement or
        // one transaction), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_migrate_a_new_database_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
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

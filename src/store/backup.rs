//! Backups of the store: a consistent copy written while `serve` keeps writing
//! ([`Store::backup_to`]), what a copy holds ([`inspect_backup`]), and putting a copy in place of
//! the database ([`stage_restore`], then [`Staged::install`]).
//!
//! A copy is made with SQLite's `VACUUM INTO`, which reads one snapshot of the database in a
//! read transaction (WAL mode lets the server write on meanwhile) and writes it compacted to a
//! new file; rusqlite's online-backup API would need its `backup` feature for the same result.
//! The copy goes to a temp file beside its target, created 0600 (it holds the actors' private
//! keys), is switched out of WAL mode (a backup is one self-contained file), checked, fsynced and
//! only then linked or renamed to its name, so a crash never leaves half a backup there.
//!
//! A restore copies the file into the data dir first and checks the copy (it is SQLite, passes
//! `PRAGMA integrity_check`, is masthead's, and its schema is one this build knows), so a bad
//! file changes nothing. Installing it folds the current database's write-ahead log into it
//! (`journal_mode = DELETE`: no WAL is left to be replayed onto the restored file), keeps it as
//! `masthead.db.before-restore-<time>` and renames the copy over `masthead.db` in one step. The
//! caller holds the data dir's `serve.lock` throughout: this module knows nothing of `serve`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use super::{keys::INSTANCE_KEY, MIGRATIONS};

/// Why a backup could not be made or a file cannot be restored; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no database to back up.
    #[error("there is no database at {path} yet: nothing to back up (`masthead serve` creates it; check --config or --data-dir)")]
    NoDatabase { path: PathBuf },
    /// The target of a backup exists.
    #[error("{path} already exists; it was left as it is (pass --force to replace it, or give another name)")]
    Exists { path: PathBuf },
    /// A file could not be read, written, synced or renamed.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    /// A query on a database failed.
    #[error("database {path}: {error}")]
    Sqlite {
        path: PathBuf,
        error: rusqlite::Error,
    },
    /// The file is not an SQLite database.
    #[error(
        "{path} is not an SQLite database ({error}); give a file that `masthead backup` wrote"
    )]
    NotADatabase {
        path: PathBuf,
        error: rusqlite::Error,
    },
    /// `PRAGMA integrity_check` found problems.
    #[error("{path} is damaged (integrity check: {problems}); restore an older backup")]
    Damaged { path: PathBuf, problems: String },
    /// An SQLite database, but not masthead's.
    #[error("{path} is not a masthead database (it has no actor_keys table); give a file that `masthead backup` wrote")]
    NotMasthead { path: PathBuf },
    /// Written by a newer masthead.
    #[error("{path} has schema version {found}, newer than this masthead knows ({known}); upgrade masthead to restore it")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// The current database is in use by another process and cannot be set aside.
    #[error("cannot set {path} aside: {error} (stop every masthead command using it, then run restore again)")]
    InUse {
        path: PathBuf,
        error: rusqlite::Error,
    },
}

/// What a backup file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupInfo {
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// `PRAGMA user_version`: the migrations applied.
    pub schema_version: i64,
    /// The handles it holds a keypair of (the instance actor's left out), sorted.
    pub actors: Vec<String>,
    /// Accepted followers, of every actor.
    pub followers: u64,
}

/// A backup copied into a data dir and checked, waiting to replace its database. Dropped
/// without [`Staged::install`], the copy is removed.
#[derive(Debug)]
pub struct Staged {
    /// The copy, beside `masthead.db`; removed on drop unless installed.
    copy: TempFile,
    data_dir: PathBuf,
    /// What the copy holds (its path is the file given).
    pub info: BackupInfo,
}

/// What [`Staged::install`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The database now in place.
    pub db: PathBuf,
    /// Where the database it replaced was kept; `None` when there was none.
    pub aside: Option<PathBuf>,
}

impl super::Store {
    /// Writes a consistent copy of this store to `out` (replacing a file there only when
    /// `overwrite`), mode 0600, and returns what it holds. Safe while another process writes:
    /// the copy is one read transaction's snapshot.
    pub fn backup_to(&self, out: &Path, overwrite: bool) -> Result<BackupInfo, BackupError> {
        if !overwrite && out.symlink_metadata().is_ok() {
            return Err(BackupError::Exists {
                path: out.to_path_buf(),
            });
        }
        let tmp = TempFile::beside(out)?;
        let target = tmp.path.to_str().ok_or_else(|| BackupError::Io {
            path: tmp.path.clone(),
            error: io::Error::new(io::ErrorKind::InvalidInput, "the path is not UTF-8"),
        })?;
        // `VACUUM INTO` writes into an empty file that exists, keeping its mode (0600). Not on a
        // reader: `query_only` refuses it. The writer's lock is held for the copy, which is why
        // `masthead backup` opens its own read-only store instead of asking the server.
        self.conn()
            .execute("VACUUM INTO ?1", [target])
            .map_err(|error| BackupError::Sqlite {
                path: self.path.clone(),
                error,
            })?;
        let info = settle(&tmp.path)?;
        if overwrite {
            std::fs::rename(&tmp.path, out).map_err(io_err(out))?;
        } else {
            // A link fails when `out` exists by now, where a rename would replace it.
            match std::fs::hard_link(&tmp.path, out) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(BackupError::Exists {
                        path: out.to_path_buf(),
                    })
                }
                other => other.map_err(io_err(out))?,
            }
        }
        drop(tmp);
        sync_dir(out)?;
        Ok(BackupInfo {
            path: out.to_path_buf(),
            ..info
        })
    }
}

/// What the backup at `path` holds, after checking that it is a sound masthead database whose
/// schema this build knows. Opened read-only: nothing is written beside it.
pub fn inspect_backup(path: &Path) -> Result<BackupInfo, BackupError> {
    if !path.is_file() {
        return Err(BackupError::Io {
            path: path.to_path_buf(),
            error: io::Error::new(io::ErrorKind::NotFound, "no such file"),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| BackupError::NotADatabase {
        path: path.to_path_buf(),
        error,
    })?;
    inspect(&conn, path)
}

/// Copies the backup `file` into `data_dir` (beside its `masthead.db`) and checks the copy;
/// nothing of the data dir's database is touched. The caller holds the data dir's lock.
pub fn stage_restore(data_dir: &Path, file: &Path) -> Result<Staged, BackupError> {
    let db = data_dir.join("masthead.db");
    let mut source = File::open(file).map_err(io_err(file))?;
    let copy = TempFile::beside(&db)?;
    {
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .open(&copy.path)
            .map_err(io_err(&copy.path))?;
        io::copy(&mut source, &mut to).map_err(io_err(&copy.path))?;
    }
    // A copy of a live database's file comes with its log (`cp masthead.db*`): keep what the
    // log holds, which SQLite folds in below.
    let wal = with_suffix(file, "-wal");
    if wal.is_file() {
        let copy_wal = with_suffix(&copy.path, "-wal");
        std::fs::copy(&wal, &copy_wal).map_err(io_err(&wal))?;
    }
    let info = settle(&copy.path).map_err(|e| match e {
        // Name the file the person gave, not the copy.
        BackupError::NotADatabase { error, .. } => BackupError::NotADatabase {
            path: file.to_path_buf(),
            error,
        },
        BackupError::Damaged { problems, .. } => BackupError::Damaged {
            path: file.to_path_buf(),
            problems,
        },
        BackupError::NotMasthead { .. } => BackupError::NotMasthead {
            path: file.to_path_buf(),
        },
        BackupError::TooNew { found, known, .. } => BackupError::TooNew {
            path: file.to_path_buf(),
            found,
            known,
        },
        other => other,
    })?;
    Ok(Staged {
        copy,
        data_dir: data_dir.to_path_buf(),
        info: BackupInfo {
            path: file.to_path_buf(),
            ..info
        },
    })
}

impl Staged {
    /// Puts the copy in place of `masthead.db`, keeping the database it replaces as
    /// `masthead.db.before-restore-<now>` with its write-ahead log folded in. At every moment
    /// `masthead.db` is the old database or the new one.
    pub fn install(mut self, now: DateTime<Utc>) -> Result<Restored, BackupError> {
        let db = self.data_dir.join("masthead.db");
        let aside = self.data_dir.join(format!(
            "masthead.db.before-restore-{}",
            now.format("%Y%m%dT%H%M%SZ")
        ));
        let wal = with_suffix(&db, "-wal");
        let shm = with_suffix(&db, "-shm");
        let kept = if db.is_file() {
            // Folds the log into the file and deletes it: the old database is whole in one
            // file, and no log is left that SQLite would replay onto the restored one.
            let conn = Connection::open(&db).map_err(|error| BackupError::InUse {
                path: db.clone(),
                error,
            })?;
            set_journal_delete(&conn, &db)?;
            drop(conn);
            if wal.exists() {
                return Err(BackupError::Io {
                    path: wal,
                    error: io::Error::other("still there after its database left WAL mode"),
                });
            }
            remove_if_present(&shm)?;
            // A link, not a rename: `masthead.db` stays in place until the copy replaces it.
            if let Err(e) = std::fs::hard_link(&db, &aside) {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    return Err(BackupError::Exists { path: aside });
                }
                std::fs::copy(&db, &aside).map_err(io_err(&aside))?;
                File::open(&aside)
                    .and_then(|f| f.sync_all())
                    .map_err(io_err(&aside))?;
            }
            Some(aside)
        } else {
            // A log without its database belongs to nothing; keep it beside where the
            // database would have been kept rather than let SQLite replay it.
            if wal.exists() {
                std::fs::rename(&wal, with_suffix(&aside, "-wal")).map_err(io_err(&wal))?;
            }
            remove_if_present(&shm)?;
            None
        };
        std::fs::rename(&self.copy.path, &db).map_err(io_err(&db))?;
        self.copy.installed = true;
        sync_dir(&db)?;
        Ok(Restored { db, aside: kept })
    }
}

/// Makes the database at `path` one self-contained file (no write-ahead log), fsyncs it, and
/// returns what it holds once checked.
fn settle(path: &Path) -> Result<BackupInfo, BackupError> {
    let not_db = |error| BackupError::NotADatabase {
        path: path.to_path_buf(),
        error,
    };
    let conn = Connection::open(path).map_err(not_db)?;
    // The first read is where SQLite finds out a file is not a database.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(not_db)?;
    let info = inspect(&conn, path)?;
    set_journal_delete(&conn, path)?;
    drop(conn);
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(path))?;
    Ok(BackupInfo {
        bytes: std::fs::metadata(path).map_err(io_err(path))?.len(),
        ..info
    })
}

fn set_journal_delete(conn: &Connection, path: &Path) -> Result<(), BackupError> {
    let in_use = |error| BackupError::InUse {
        path: path.to_path_buf(),
        error,
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(in_use)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(in_use)?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(BackupError::InUse {
            path: path.to_path_buf(),
            error: rusqlite::Error::InvalidQuery,
        });
    }
    Ok(())
}

/// Checks the database `conn` has open at `path` and reads what it holds (`bytes` left 0 when
/// the file is still to be settled).
fn inspect(conn: &Connection, path: &Path) -> Result<BackupInfo, BackupError> {
    let not_db = |error| BackupError::NotADatabase {
        path: path.to_path_buf(),
        error,
    };
    let sql = |error| BackupError::Sqlite {
        path: path.to_path_buf(),
        error,
    };
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(not_db)?;
    if problems != ["ok"] {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            problems: problems.join("; "),
        });
    }
    let has_table = |name: &str| -> Result<bool, BackupError> {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(sql)
    };
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    let known = MIGRATIONS.len() as i64;
    if schema_version > known {
        return Err(BackupError::TooNew {
            path: path.to_path_buf(),
            found: schema_version,
            known,
        });
    }
    if schema_version < 1 || !has_table("actor_keys")? {
        return Err(BackupError::NotMasthead {
            path: path.to_path_buf(),
        });
    }
    let actors = conn
        .prepare("SELECT handle FROM actor_keys WHERE handle != ?1 ORDER BY handle")
        .and_then(|mut s| s.query_map([INSTANCE_KEY], |r| r.get(0))?.collect())
        .map_err(sql)?;
    // Schema 1 had no followers table.
    let followers = if has_table("followers")? {
        conn.query_row(
            "SELECT count(*) FROM followers WHERE state = 'accepted'",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?
    } else {
        0
    };
    Ok(BackupInfo {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        schema_version,
        actors,
        followers,
    })
}

/// An empty file, mode 0600, created beside `target` under a name of its own; removed on drop
/// (with any journal SQLite left beside it) unless it was renamed into place.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    installed: bool,
}

impl TempFile {
    fn beside(target: &Path) -> Result<TempFile, BackupError> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "masthead.db".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(".{name}.{}-{nanos}.partial", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(&path).map_err(io_err(&path))?;
        Ok(TempFile {
            path,
            installed: false,
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.installed {
            let _ = std::fs::remove_file(&self.path);
        }
        for suffix in ["-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(with_suffix(&self.path, suffix));
        }
    }
}

/// `path` with `suffix` appended to its file name (`masthead.db` -> `masthead.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<(), BackupError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(BackupError::Io {
            path: path.to_path_buf(),
            error,
        }),
        _ => Ok(()),
    }
}

/// Makes a rename or link in the folder of `path` durable.
fn sync_dir(path: &Path) -> Result<(), BackupError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |error| BackupError::Io {
        path: path.to_path_buf(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FollowState, Follower, Store};

    /// A store in `dir` with keys for news and desk, and one accepted follower of news.
    fn store_with_a_follower(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        store.actor_key("news").unwrap();
        store.actor_key("desk").unwrap();
        store.actor_key(INSTANCE_KEY).unwrap();
        store
            .upsert_follower(&Follower {
                state: FollowState::Accepted,
                ..Follower::example("news", "https://remote.example/users/reader")
            })
            .unwrap();
        store
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn can_back_up_a_store_that_is_open_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let writer = store_with_a_follower(&data);
        let out_dir = dir.path().join("backups");
        std::fs::create_dir(&out_dir).unwrap();
        let out = out_dir.join("site.db");
        // As `masthead backup` does it: a read-only handle beside the server's writer.
        let reader = Store::open_read_only(&data).unwrap().unwrap();
        let info = reader.backup_to(&out, false).unwrap();
        assert_eq!(info.actors, ["desk", "news"]);
        assert_eq!(info.followers, 1);
        assert_eq!(info.schema_version, MIGRATIONS.len() as i64);
        assert_eq!(info.bytes, std::fs::metadata(&out).unwrap().len());
        // One self-contained file, nothing else left beside it.
        assert_eq!(names(&out_dir), ["site.db"]);
        assert_eq!(inspect_backup(&out).unwrap(), info);
        assert_eq!(names(&out_dir), ["site.db"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        }
        // The copy holds every private key the server has, the instance actor's too.
        let keys = |db: &Path| -> Vec<(String, String)> {
            let c = Connection::open(db).unwrap();
            let mut q = c
                .prepare("SELECT handle, private_pem FROM actor_keys ORDER BY handle")
                .unwrap();
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(keys(&out), keys(&data.join("masthead.db")));
        assert_eq!(keys(&out).len(), 3);
        // The writer stayed open beside the reader throughout, as `serve`'s does.
        drop(writer);
    }

    #[test]
    fn rejects_an_existing_target_unless_told_to_replace_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = store_with_a_follower(&data);
        let out_dir = dir.path().join("backups");
        std::fs::create_dir(&out_dir).unwrap();
        let out = out_dir.join("site.db");
        std::fs::write(&out, "precious").unwrap();
        let err = store.backup_to(&out, false).unwrap_err();
        assert!(matches!(err, BackupError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("pass --force"), "{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
        assert_eq!(names(&out_dir), ["site.db"]);
        let info = store.backup_to(&out, true).unwrap();
        assert_eq!(info.actors, ["desk", "news"]);
        assert_eq!(names(&out_dir), ["site.db"]);
    }

    #[test]
    fn errors_when_the_target_folder_is_missing_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_a_follower(&dir.path().join("data"));
        let err = store
            .backup_to(&dir.path().join("nowhere/site.db"), false)
            .unwrap_err();
        assert!(matches!(err, BackupError::Io { .. }), "{err}");
        assert_eq!(names(dir.path()), ["data"]);
    }

    /// A data dir holding a database with a key for news, and the files in it.
    fn data_dir_with_a_database(dir: &Path) -> (PathBuf, Vec<String>) {
        let data = dir.join("data");
        let store = Store::open(&data).unwrap();
        store.actor_key("news").unwrap();
        drop(store);
        let before = names(&data);
        (data, before)
    }

    #[test]
    fn rejects_a_file_that_is_not_a_database_and_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (data, before) = data_dir_with_a_database(dir.path());
        let file = dir.path().join("notes.txt");
        std::fs::write(
            &file,
            "not a database, but long enough to have a header ".repeat(20),
        )
        .unwrap();
        let err = stage_restore(&data, &file).unwrap_err();
        assert!(matches!(err, BackupError::NotADatabase { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{} is not an SQLite database", file.display())),
            "{err}"
        );
        assert_eq!(names(&data), before);
    }

    #[test]
    fn rejects_an_sqlite_file_that_is_not_mastheads() {
        let dir = tempfile::tempdir().unwrap();
        let (data, before) = data_dir_with_a_database(dir.path());
        let file = dir.path().join("other.db");
        Connection::open(&file)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); PRAGMA user_version = 3;")
            .unwrap();
        let err = stage_restore(&data, &file).unwrap_err();
        assert!(matches!(err, BackupError::NotMasthead { .. }), "{err}");
        // An empty file is an empty SQLite database: not masthead's either.
        std::fs::write(&file, "").unwrap();
        let err = stage_restore(&data, &file).unwrap_err();
        assert!(matches!(err, BackupError::NotMasthead { .. }), "{err}");
        assert_eq!(names(&data), before);
    }

    #[test]
    fn rejects_a_backup_from_a_newer_masthead() {
        let dir = tempfile::tempdir().unwrap();
        let (data, before) = data_dir_with_a_database(dir.path());
        let file = dir.path().join("future.db");
        Store::open(&data).unwrap().backup_to(&file, false).unwrap();
        let newer = MIGRATIONS.len() as i64 + 1;
        Connection::open(&file)
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
        let err = stage_restore(&data, &file).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} has schema version {newer}, newer than this masthead knows ({}); upgrade masthead to restore it",
                file.display(),
                MIGRATIONS.len()
            )
        );
        assert_eq!(names(&data), before);
    }

    #[test]
    fn can_restore_a_backup_and_keep_the_database_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = store_with_a_follower(&data);
        let news = store.actor_key("news").unwrap().public_pem;
        let file = dir.path().join("backup.db");
        store.backup_to(&file, false).unwrap();
        // After the backup: a key that the restore takes away again.
        let later = store.actor_key("later").unwrap().public_pem;
        drop(store);

        let staged = stage_restore(&data, &file).unwrap();
        assert_eq!(staged.info.actors, ["desk", "news"]);
        assert_eq!(staged.info.path, file);
        let now = DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let restored = staged.install(now).unwrap();
        let aside = data.join("masthead.db.before-restore-20261121T090000Z");
        assert_eq!(restored.aside.as_deref(), Some(aside.as_path()));
        assert_eq!(
            names(&data),
            ["masthead.db", "masthead.db.before-restore-20261121T090000Z"]
        );
        // The backup file itself is untouched and still there.
        assert!(inspect_backup(&file).is_ok());

        let store = Store::open(&data).unwrap();
        assert_eq!(store.actor_key("news").unwrap().public_pem, news);
        assert_eq!(store.key_handles().unwrap(), ["desk", "news"]);
        assert_eq!(
            store
                .followers("news", FollowState::Accepted)
                .unwrap()
                .len(),
            1
        );
        drop(store);
        // What was there before is whole in the file kept aside.
        let before = inspect_backup(&aside).unwrap();
        assert_eq!(before.actors, ["desk", "later", "news"]);
        let kept: String = Connection::open(&aside)
            .unwrap()
            .query_row(
                "SELECT public_pem FROM actor_keys WHERE handle = 'later'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, later);
    }

    #[test]
    fn can_restore_into_an_empty_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.db");
        store_with_a_follower(&dir.path().join("old"))
            .backup_to(&file, false)
            .unwrap();
        let data = dir.path().join("new");
        std::fs::create_dir(&data).unwrap();
        let restored = stage_restore(&data, &file)
            .unwrap()
            .install(Utc::now())
            .unwrap();
        assert_eq!(restored.aside, None);
        assert_eq!(names(&data), ["masthead.db"]);
        assert_eq!(
            Store::open(&data).unwrap().key_handles().unwrap(),
            ["desk", "news"]
        );
    }

    #[test]
    fn can_drop_a_staged_copy_without_a_trace() {
        let dir = tempfile::tempdir().unwrap();
        let (data, before) = data_dir_with_a_database(dir.path());
        let file = dir.path().join("backup.db");
        Store::open(&data).unwrap().backup_to(&file, false).unwrap();
        let staged = stage_restore(&data, &file).unwrap();
        assert_ne!(names(&data), before);
        drop(staged);
        assert_eq!(names(&data), before);
    }
}

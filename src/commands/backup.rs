//! `masthead backup OUT` and `masthead restore FILE`: find the data dir, call the store's backup
//! and restore ([`crate::store::Store::backup_to`], [`crate::store::stage_restore`]), and say
//! what was done for a person.
//!
//! A backup needs no lock: it reads one snapshot while `serve` writes on. A restore takes the
//! data dir's `serve.lock` (the one `serve` holds) for its whole length, so no server starts on
//! a database being replaced, and refuses while a server runs. Only the database is state:
//! `plugin-cache/` (compiled plugins) and `published/` (exports of `publish = "commit"`) are
//! rebuilt by `serve`, and `serve.lock` is a lock. `comments/` is derived too, but `serve`
//! rewrites a post's file only when one of its replies changes, so a restore rewrites every file
//! from the restored database (migrated to this build's schema first).

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::plural;
use crate::app::{lock_data_dir, AppError};
use crate::cli::{BackupArgs, RestoreArgs, SiteArgs};
use crate::config::Site;
use crate::federation::comments;
use crate::store::{self, BackupError, BackupInfo, Restored, Store};

/// A restore while `serve` holds the data dir.
#[derive(Debug, thiserror::Error)]
#[error("masthead serve is running on {dir}: stop it first, then run restore again (nothing was changed; `masthead backup` is the one that works while it runs)")]
pub struct ServeRunning {
    pub dir: PathBuf,
}

/// Writes the backup and prints one line about it.
pub fn backup(args: BackupArgs) -> Result<ExitCode, Box<dyn Error>> {
    // The data dir is all a backup needs: with --data-dir, a broken site.toml does not stop it.
    let dir = match args.site.data_dir {
        Some(dir) => dir,
        None => Site::load(&args.site.config)?.site.data_dir,
    };
    let Some(store) = Store::open_read_only(&dir)? else {
        return Err(BackupError::NoDatabase {
            path: dir.join("masthead.db"),
        }
        .into());
    };
    let now = Utc::now();
    let out = if args.out.is_dir() {
        args.out.join(format!("masthead-{}.db", stamp(now)))
    } else {
        args.out
    };
    let info = store.backup_to(&out, args.force)?;
    println!("{}", backup_line(&info, now));
    Ok(ExitCode::SUCCESS)
}

/// Checks the backup, puts it in place of the data dir's database, and prints what it did.
pub fn restore(args: RestoreArgs) -> Result<ExitCode, Box<dyn Error>> {
    let SiteArgs { config, data_dir } = args.site;
    let mut site = Site::load(&config)?.site;
    if let Some(dir) = data_dir {
        site.data_dir = dir;
    }
    let _lock = match lock_data_dir(&site.data_dir) {
        Err(AppError::Locked { dir }) => return Err(ServeRunning { dir }.into()),
        other => other?,
    };
    let staged = store::stage_restore(&site.data_dir, &args.file)?;
    let handles: Vec<&str> = site.actors.iter().map(|a| a.handle.as_str()).collect();
    for warning in missing_keys(&staged.info, &handles) {
        eprintln!("warning: {warning}");
    }
    let info = staged.info.clone();
    let restored = staged.install(Utc::now())?;
    print!("{}", restore_report(&info, &restored, &config));
    match rewrite_comments(&site.data_dir) {
        Ok(0) => {}
        Ok(n) => println!("rewrote {} from it", plural(n, "comments file", "comments files")),
        Err(e) => {
            return Err(format!(
                "the restore is in place, but the comments files could not be rewritten from it: {e} (fix this and run the restore again, or wait: `serve` rewrites a post's file when its replies change)"
            )
            .into())
        }
    }
    println!("start `masthead serve` to serve it");
    Ok(ExitCode::SUCCESS)
}

/// Opens the restored store (migrating it to this build's schema) and rewrites the comments
/// file of every post it holds replies to, and of every post with a file on disk (which it may
/// hold none to now); returns how many files it wrote.
fn rewrite_comments(data_dir: &Path) -> Result<usize, Box<dyn Error>> {
    let store = Store::open(data_dir)?;
    let mut posts: BTreeSet<(String, String)> = store
        .all_replies()?
        .into_iter()
        .filter_map(|r| r.post)
        .collect();
    posts.extend(comments::files(data_dir)?.into_iter().map(|(post, _)| post));
    for (handle, slug) in &posts {
        comments::write_file(&store, data_dir, handle, slug)?;
    }
    Ok(posts.len())
}

/// `20261121T090000Z`: a UTC time that sorts and fits in a file name.
fn stamp(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The line `masthead backup` prints.
fn backup_line(info: &BackupInfo, now: DateTime<Utc>) -> String {
    format!(
        "backed up to {} at {}: {}, schema v{}, {}, {}; written mode 0600, as it holds the actors' private keys: keep it private",
        info.path.display(),
        crate::federation::objects::time(now),
        size(info.bytes),
        info.schema_version,
        plural(info.actors.len(), "actor", "actors"),
        plural(info.followers as usize, "follower", "followers"),
    )
}

/// A warning for each actor of site.toml the backup holds no key for.
fn missing_keys(info: &BackupInfo, handles: &[&str]) -> Vec<String> {
    handles
        .iter()
        .filter(|h| !info.actors.iter().any(|a| a == *h))
        .map(|h| {
            format!(
                "{} holds no key for actor {h}: `masthead serve` will make it a new one, which the servers of its followers refuse; {h} loses its followers (restore a backup that has {h}, if there is one)",
                info.path.display()
            )
        })
        .collect()
}

/// What `masthead restore` prints once the backup is in place.
fn restore_report(info: &BackupInfo, restored: &Restored, config: &Path) -> String {
    let known = crate::store::schema_version();
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "restored {} ({}, schema v{}, {}, {}) as {}",
        info.path.display(),
        size(info.bytes),
        info.schema_version,
        plural(info.actors.len(), "actor", "actors"),
        plural(info.followers as usize, "follower", "followers"),
        restored.db.display()
    );
    if info.schema_version < known {
        let _ = writeln!(
            out,
            "it was written by an older masthead: migrated from schema v{} to v{known}",
            info.schema_version
        );
    }
    match &restored.aside {
        Some(aside) => {
            let _ = writeln!(
                out,
                "the database it replaced is kept as {}\nto undo: stop `masthead serve`, then run `masthead restore --config {} --data-dir {} {}`",
                aside.display(),
                config.display(),
                restored.db.parent().unwrap_or(Path::new(".")).display(),
                aside.display()
            );
        }
        None => {
            let _ = writeln!(out, "there was no database before: nothing was replaced");
        }
    }
    out
}

/// A size for a person: bytes, KiB, MiB or GiB, with one decimal above KiB.
fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.0} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / KIB / KIB)
    } else {
        format!("{:.1} GiB", b / KIB / KIB / KIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(actors: &[&str], followers: u64, schema_version: i64) -> BackupInfo {
        BackupInfo {
            path: PathBuf::from("/backups/site.db"),
            bytes: 3 * 1024 * 1024 / 2,
            schema_version,
            actors: actors.iter().map(|a| a.to_string()).collect(),
            followers,
        }
    }

    #[test]
    fn can_word_a_backup_in_one_line() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            backup_line(&info(&["desk", "news"], 1, 11), now),
            "backed up to /backups/site.db at 2026-11-21T09:00:00Z: 1.5 MiB, schema v11, 2 actors, 1 follower; written mode 0600, as it holds the actors' private keys: keep it private"
        );
        assert_eq!(stamp(now), "20261121T090000Z");
    }

    #[test]
    fn can_size_a_file_for_a_person() {
        assert_eq!(size(900), "900 B");
        assert_eq!(size(96 * 1024), "96 KiB");
        assert_eq!(size(5 * 1024 * 1024 * 1024 / 2), "2.5 GiB");
    }

    #[test]
    fn can_warn_of_each_actor_a_backup_has_no_key_for() {
        let warnings = missing_keys(&info(&["news"], 0, 11), &["news", "desk"]);
        assert_eq!(
            warnings,
            ["/backups/site.db holds no key for actor desk: `masthead serve` will make it a new one, which the servers of its followers refuse; desk loses its followers (restore a backup that has desk, if there is one)"]
        );
        assert!(missing_keys(&info(&["desk", "news"], 0, 11), &["news", "desk"]).is_empty());
    }

    #[test]
    fn can_say_how_to_undo_a_restore_and_that_an_older_schema_was_migrated() {
        let restored = Restored {
            db: PathBuf::from("/srv/data/masthead.db"),
            aside: Some(PathBuf::from(
                "/srv/data/masthead.db.before-restore-20261121T090000Z",
            )),
        };
        let known = crate::store::schema_version();
        let report = restore_report(
            &info(&["news"], 2, known - 1),
            &restored,
            Path::new("/srv/site.toml"),
        );
        assert_eq!(
            report,
            format!(
                "restored /backups/site.db (1.5 MiB, schema v{old}, 1 actor, 2 followers) as /srv/data/masthead.db\n\
                 it was written by an older masthead: migrated from schema v{old} to v{known}\n\
                 the database it replaced is kept as /srv/data/masthead.db.before-restore-20261121T090000Z\n\
                 to undo: stop `masthead serve`, then run `masthead restore --config /srv/site.toml --data-dir /srv/data /srv/data/masthead.db.before-restore-20261121T090000Z`\n",
                old = known - 1
            )
        );
    }
}

//! `masthead check`: every problem of a site at once, plugins included, without network, changing
//! no store.
//!
//! Besides the problems it notes what will not go out at once: posts scheduled for later, and
//! posts new to the server's store (read, never written, when there is one) dated before the
//! push window, which go to the outbox without being pushed to followers.
//!
//! Output is for a person, so it goes through [`Report`]'s own printer, not the logger.

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use crate::catalog::{published, Catalog};
use crate::cli::CheckArgs;
use crate::config::Site;
use crate::diagnostics::{Diagnostic, Severity};
use crate::plugins::{Host, HostOptions};
use crate::store::Store;
use crate::urls::Urls;

/// Prints every problem of the site; fails when one of them stops publishing.
pub fn run(args: CheckArgs) -> Result<ExitCode, Box<dyn Error>> {
    let report = check_site(&args.config);
    println!("{report}");
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem, errors first, each `file:line: what (what to do)`.
    pub diagnostics: Vec<Diagnostic>,
    /// Posts that would be published.
    pub posts: usize,
    /// What was checked, when not the working tree (`publish = "commit"`).
    pub header: Option<String>,
    /// Facts for the operator that are not problems: what is not committed, and what will not
    /// go out at once (scheduled posts, old new posts), each with what to do.
    pub notes: Vec<String>,
}

impl Report {
    /// True when nothing stops publishing.
    pub fn ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(header) = &self.header {
            writeln!(f, "{header}")?;
        }
        for d in &self.diagnostics {
            let label = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            writeln!(f, "{label}: {d}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = self.diagnostics.len() - errors;
        write!(
            f,
            "{} post{} ready; {errors} error{}, {warnings} warning{}",
            self.posts,
            plural(self.posts),
            plural(errors),
            plural(warnings)
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Checks the site at `config`, plugins included (each loaded and checked against the contract
/// and its config against its schema; nothing is built). The store used is in memory: `check`
/// writes nothing on disk but the cache of compiled plugins.
pub fn check_site(config: &Path) -> Report {
    let loaded = match Site::load(config) {
        Ok(loaded) => loaded,
        Err(e) => {
            let root = config.parent().unwrap_or(Path::new(""));
            let diagnostics = e
                .problems
                .into_iter()
                .map(|d| d.relative_to(root))
                .collect();
            return Report {
                diagnostics,
                ..Report::default()
            };
        }
    };
    // [livegit] publish = "commit": check the committed tree, not the working one.
    if let crate::config::Publish::Commit(publish) = &loaded.site.publish {
        return check_committed(&loaded.site, publish);
    }
    check_loaded(loaded)
}

/// Checks a loaded site: its warnings, then what its catalog build finds.
fn check_loaded(loaded: crate::config::Loaded) -> Report {
    let site = loaded.site;
    let mut diagnostics: Vec<Diagnostic> = loaded
        .warnings
        .into_iter()
        .map(|d| d.relative_to(&site.root))
        .collect();
    if !site.plugins.is_empty() {
        let cache = HostOptions::for_site(&site).cache_dir;
        diagnostics.extend(
            Host::check(&site, &cache)
                .into_iter()
                .map(|d| d.relative_to(&site.root)),
        );
    }
    let urls = Urls::new(&site);
    let now = chrono::Utc::now();
    let mut notes = Vec::new();
    let posts =
        match Store::open_in_memory().and_then(|store| Catalog::build(&site, &urls, &store, now)) {
            Ok((catalog, report)) => {
                diagnostics.extend(catalog.diagnostics.iter().cloned());
                notes = time_notes(&site, &catalog, now);
                report.records.len()
            }
            Err(e) => {
                diagnostics.push(Diagnostic::error(&site.config_path, None, e.to_string()));
                0
            }
        };
    diagnostics.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    Report {
        diagnostics,
        posts,
        notes,
        ..Report::default()
    }
}

/// `publish = "commit"`: exports the branch's commit into a temporary folder (nothing is
/// written to the data dir), checks the site there, and notes what is not committed.
fn check_committed(working: &Site, publish: &crate::config::PublishCommit) -> Report {
    use crate::git_source::{self, GitSource};
    let failed = |message: String| Report {
        diagnostics: vec![Diagnostic::error(Path::new("site.toml"), None, message)],
        ..Report::default()
    };
    let source = match GitSource::open(&working.root, publish, &working.data_dir) {
        Ok(source) => source,
        Err(e) => return failed(e.to_string()),
    };
    let commit = match source.current_commit() {
        Ok(commit) => commit,
        Err(e) => return failed(e.to_string()),
    };
    let header = format!(
        "checking commit {} of branch {} (publish = \"commit\"; the working tree is not published)",
        git_source::short(commit),
        source.branch()
    );
    let dir = std::env::temp_dir().join(format!("masthead-check-{}-{commit}", std::process::id()));
    let mut report = match source.export_to(commit, &dir) {
        Err(e) => failed(e.to_string()),
        Ok(_) => match git_source::load_exported(working, &dir, commit, source.branch()) {
            Ok(loaded) => check_loaded(loaded),
            Err(e) => Report {
                diagnostics: e.problems,
                ..Report::default()
            },
        },
    };
    let _ = std::fs::remove_dir_all(&dir);
    report.header = Some(header);
    match source.uncommitted(commit, &working.data_dir) {
        Ok(paths) if paths.is_empty() => {}
        Ok(paths) => report.notes.push(format!(
            "{} file{} changed but not committed; {} not published until committed: {}",
            paths.len(),
            plural(paths.len()),
            if paths.len() == 1 {
                "it is"
            } else {
                "they are"
            },
            paths.join(", ")
        )),
        Err(e) => report
            .notes
            .push(format!("cannot tell what is not committed: {e}")),
    }
    report
}

/// Scheduled posts, and posts the server's store has not seen that are dated before the push
/// window (without a store, every post is part of a first scan, which pushes nothing).
fn time_notes(site: &Site, catalog: &Catalog, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut notes: Vec<String> = catalog
        .scheduled()
        .map(|(source, at)| {
            format!(
                "{} is scheduled for {}: it answers 404 until then, and goes to followers then",
                source.display(),
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
        .collect();
    let store = match Store::open_read_only(&site.data_dir) {
        Ok(Some(store)) => store,
        Ok(None) => return notes,
        Err(e) => {
            notes.push(format!(
                "cannot read the store to tell new posts from published ones: {e}"
            ));
            return notes;
        }
    };
    let hours = site.push_window.as_secs() / 3600;
    let window = chrono::TimeDelta::from_std(site.push_window).unwrap_or(chrono::TimeDelta::MAX);
    let mut old: Vec<(&Path, chrono::DateTime<chrono::Utc>)> = catalog
        .all_posts()
        .filter(|r| published(r) < now - window)
        .filter(|r| {
            !store
                .knows_post(&r.post.actor, &r.post.slug)
                .unwrap_or(true)
        })
        .map(|r| (&*r.post.source, published(r)))
        .collect();
    old.sort();
    notes.extend(old.into_iter().map(|(source, at)| {
        format!(
            "{} is new but dated {}, more than {hours} h ago: it goes to the outbox without being pushed to followers (give it a later `date`, or raise push_window_hours under [site])",
            source.display(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }));
    notes
}

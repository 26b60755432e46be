//! `masthead check`: every problem of a site at once, plugins included, without network or
//! store.
//!
//! Output is for a person, so it goes through [`Report`]'s own printer, not the logger.

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use crate::catalog::Catalog;
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
}

impl Report {
    /// True when nothing stops publishing.
    pub fn ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            let label = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            writeln!(f, "{label}: {d}")?;
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
                posts: 0,
            };
        }
    };
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
    let posts = match Store::open_in_memory()
        .and_then(|store| Catalog::build(&site, &urls, &store, chrono::Utc::now()))
    {
        Ok((catalog, report)) => {
            diagnostics.extend(catalog.diagnostics.iter().cloned());
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
    Report { diagnostics, posts }
}

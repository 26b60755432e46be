//! Helpers for the config tests: a minimal valid site.toml, a site folder for it, and the
//! problems a text gives, as a person reads them.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

use super::{ConfigError, Loaded, Site};
use crate::diagnostics::Diagnostic;

/// The smallest valid site.toml; tests append to it or replace parts of it.
pub const GOOD: &str = r#"[site]
base_url = "https://social.city.example"

[[actor]]
handle = "news"
"#;

/// A site folder holding `content/news`, the default content folder of the `news` actor.
pub fn site_dir() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("content/news")).unwrap();
    dir
}

pub fn parse_in(dir: &TempDir, text: &str) -> Result<Loaded, ConfigError> {
    Site::parse(&dir.path().join("site.toml"), text)
}

/// `problems` with their files relative to `dir` (`site.toml:3: ...`).
fn shown(dir: &TempDir, problems: Vec<Diagnostic>) -> Vec<String> {
    problems
        .into_iter()
        .map(|d| d.relative_to(dir.path()).to_string())
        .collect()
}

/// Every error for `text` in `dir`, which must not load.
pub fn errors_in(dir: &TempDir, text: &str) -> Vec<String> {
    match parse_in(dir, text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => shown(dir, e.problems),
    }
}

pub fn errors(text: &str) -> Vec<String> {
    errors_in(&site_dir(), text)
}

/// Every warning for `text` in `dir`, which must load.
pub fn warnings_in(dir: &TempDir, text: &str) -> Vec<String> {
    match parse_in(dir, text) {
        Ok(loaded) => shown(dir, loaded.warnings),
        Err(e) => panic!("expected {text} to load, got {:#?}", e.problems),
    }
}

pub fn warnings(text: &str) -> Vec<String> {
    warnings_in(&site_dir(), text)
}

/// Errors when no files are needed: parsed as a bare `site.toml`.
pub fn bare_errors(text: &str) -> Vec<String> {
    match Site::parse(Path::new("site.toml"), text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

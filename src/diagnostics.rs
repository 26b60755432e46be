//! Problems found in a site's files, reported to a person.
//!
//! `check` prints every [`Diagnostic`] at once and `serve` logs them at start; both read them as
//! `file:line: what is wrong (what to do)`. This module owns that shape and nothing else: the
//! checks themselves live with the config and content code that knows the rules.

use std::fmt;
use std::path::{Path, PathBuf};

/// Whether a problem stops something from being published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file (or the whole site, for site.toml) is not served until it is fixed.
    Error,
    /// Served anyway, but probably not as the author meant.
    Warning,
}

/// One problem in one file, with the line where a person should look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file, as a person would type it (relative to the site root where possible).
    pub file: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// `what is wrong (what to do)`.
    pub message: String,
}

impl Diagnostic {
    /// An error in `file`.
    pub fn error(file: impl Into<PathBuf>, line: Option<usize>, msg: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            line,
            message: msg.into(),
        }
    }

    /// A warning in `file`.
    pub fn warning(file: impl Into<PathBuf>, line: Option<usize>, msg: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(file, line, msg)
        }
    }

    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The same diagnostic with `file` shown relative to `root` when it lies inside it.
    pub fn relative_to(mut self, root: &Path) -> Self {
        if let Ok(rel) = self.file.strip_prefix(root) {
            self.file = rel.to_path_buf();
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

//! Reading a Mastodon domain-block export (or a plain list of domains) into [`DomainBlock`]s.
//!
//! This module owns the file format only; [`super::Blocks`] decides what a block means.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::normalize_host;

/// How hard a domain is blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Refused entirely.
    Suspend,
    /// Allowed, but its replies are held.
    Silence,
    /// Listed, no effect.
    Noop,
}

/// One line of a block list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainBlock {
    /// The domain, lowercase.
    pub domain: String,
    pub severity: Severity,
}

/// Reads a Mastodon domain-block export (`#domain,#severity,...`, the header's `#` optional), or a
/// plain list with one domain per line (all suspended). Blank lines and `#` comments are skipped;
/// unusable lines are logged and skipped, so one bad line does not lose the rest.
pub fn parse_blocklist(path: &Path, text: &str) -> Vec<DomainBlock> {
    let mut lines = text.lines().enumerate().peekable();
    let mut domain_col = 0;
    let mut severity_col = None;
    if let Some((_, first)) = lines.peek() {
        let header: Vec<String> = split_csv(first)
            .into_iter()
            .map(|h| h.trim().trim_start_matches('#').to_ascii_lowercase())
            .collect();
        if header.iter().any(|h| h == "domain") {
            domain_col = header.iter().position(|h| h == "domain").unwrap_or(0);
            severity_col = header.iter().position(|h| h == "severity");
            lines.next();
        }
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_csv(line);
        let domain = fields
            .get(domain_col)
            .map(|d| normalize_host(d))
            .unwrap_or_default();
        let severity = match severity_col.and_then(|c| fields.get(c)).map(|s| s.trim()) {
            None | Some("") | Some("suspend") => Severity::Suspend,
            Some("silence") => Severity::Silence,
            Some("noop") => Severity::Noop,
            Some(other) => {
                tracing::warn!(file = %path.display(), line = i + 1, severity = other, "unknown severity in block list; treating it as suspend");
                Severity::Suspend
            }
        };
        if domain.is_empty() || domain.contains('*') || domain.contains(char::is_whitespace) {
            tracing::warn!(file = %path.display(), line = i + 1, domain = %domain, "block list entry skipped: not a plain domain (obfuscated entries cannot be matched)");
            continue;
        }
        out.push(DomainBlock { domain, severity });
    }
    out
}

/// Splits one CSV line, honouring double quotes (a `public_comment` may hold commas).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moderation::Blocks;

    #[test]
    fn can_import_a_mastodon_domain_block_export() {
        let csv = "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\n\
                   spam.example,suspend,true,true,\"spam, lots of it\",false\n\
                   loud.example,silence,false,false,,false\n\
                   fine.example,noop,false,false,,false\n\
                   sp*m.example,suspend,false,false,,true\n\
                   \n";
        let got = parse_blocklist(Path::new("b.csv"), csv);
        assert_eq!(
            got,
            vec![
                DomainBlock {
                    domain: "spam.example".into(),
                    severity: Severity::Suspend
                },
                DomainBlock {
                    domain: "loud.example".into(),
                    severity: Severity::Silence
                },
                DomainBlock {
                    domain: "fine.example".into(),
                    severity: Severity::Noop
                },
            ]
        );
        let mut b = Blocks::default();
        got.into_iter().for_each(|d| b.add(d));
        assert!(b.host_blocked("x.spam.example"));
        assert!(!b.host_blocked("loud.example"));
        assert!(b.host_silenced("loud.example"));
        assert!(!b.host_blocked("fine.example"));
    }

    #[test]
    fn can_import_a_header_without_hashes_and_a_plain_list() {
        let got = parse_blocklist(Path::new("b.csv"), "domain,severity\nA.example,silence\n");
        assert_eq!(got[0].domain, "a.example");
        assert_eq!(got[0].severity, Severity::Silence);
        let got = parse_blocklist(
            Path::new("b.txt"),
            "# my list\nspam.example\n\n*.bad.example\n",
        );
        assert_eq!(
            got.iter().map(|d| d.domain.as_str()).collect::<Vec<_>>(),
            ["spam.example", "bad.example"]
        );
        assert!(got.iter().all(|d| d.severity == Severity::Suspend));
    }
}

//! Built-in blocks: which remote domains and actors may not interact with this site, and the
//! verdict on each incoming event.
//!
//! This module owns the `[moderation]` rules once loaded ([`Blocks`], including the import of a
//! Mastodon domain-block CSV) and [`judge`], a pure function from an [`InboxEvent`] to a
//! [`Verdict`]. It does not see HTTP or the store: the inbox asks [`Blocks::host_blocked`] before it
//! fetches anything for a request (so a blocked server never learns we looked at it), and applies
//! the verdict itself. Because events are plain serde data, a WASM plugin can later judge the same
//! events with the same verdicts.
//!
//! Severities of a Mastodon export: `suspend` blocks the domain (requests 403, follows rejected,
//! replies dropped). `silence` is kept but quieter: masthead has no timelines to hide things from,
//! so a silenced domain may follow, like and boost, but its replies are stored as *held* (listed by
//! `masthead replies`, never shown on pages or in comments.json). `noop` does nothing. Obfuscated
//! entries (`sp*m.example`) cannot be matched and are skipped with a warning.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::federation::inbox::InboxEvent;

/// The block list could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The CSV named by `moderation.blocklist_csv` could not be read.
    #[error("moderation.blocklist_csv {path}: {source} (check the path in site.toml)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

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
    /// What it means.
    pub severity: Severity,
}

/// The rules in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blocks {
    suspended: BTreeSet<String>,
    silenced: BTreeSet<String>,
    actors: BTreeSet<String>,
}

/// What happens to an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// Act on it.
    Accept,
    /// Keep it out of sight (a reply stored but not shown); other events are accepted.
    Hold {
        /// Why, for the log.
        reason: String,
    },
    /// Refuse it: a Follow is answered with Reject, anything else is dropped.
    Reject {
        /// Why, for the log.
        reason: String,
    },
}

impl Blocks {
    /// Builds the rules from `[moderation]`, reading its CSV if one is named.
    pub fn from_config(config: &crate::config::Moderation) -> Result<Blocks, ModerationError> {
        let mut blocks = Blocks::default();
        for d in &config.blocked_domains {
            blocks.suspended.insert(normalize_host(d));
        }
        for a in &config.blocked_actors {
            blocks.actors.insert(a.clone());
        }
        if let Some(path) = &config.blocklist_csv {
            let text = std::fs::read_to_string(path).map_err(|source| ModerationError::Read {
                path: path.clone(),
                source,
            })?;
            for block in parse_blocklist(path, &text) {
                blocks.add(block);
            }
        }
        Ok(blocks)
    }

    /// Adds one domain block.
    pub fn add(&mut self, block: DomainBlock) {
        let domain = normalize_host(&block.domain);
        match block.severity {
            Severity::Suspend => {
                self.suspended.insert(domain);
            }
            Severity::Silence => {
                self.silenced.insert(domain);
            }
            Severity::Noop => {}
        }
    }

    /// Blocks one actor id.
    pub fn block_actor(&mut self, actor: &str) {
        self.actors.insert(actor.to_string());
    }

    /// Whether `host` or any domain it is a subdomain of is suspended.
    pub fn host_blocked(&self, host: &str) -> bool {
        matches_any(&self.suspended, &normalize_host(host))
    }

    /// Whether `host` or a parent domain is silenced (and not suspended).
    pub fn host_silenced(&self, host: &str) -> bool {
        matches_any(&self.silenced, &normalize_host(host))
    }

    /// Whether the host of `url` is suspended; a URL without a host is treated as blocked.
    pub fn url_blocked(&self, url: &str) -> bool {
        match url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            Some(host) => self.host_blocked(&host),
            None => true,
        }
    }

    /// Whether `actor` is blocked by id or by domain.
    pub fn actor_blocked(&self, actor: &str) -> bool {
        self.actors.contains(actor) || self.url_blocked(actor)
    }

    /// Number of suspended domains, silenced domains and blocked actors (for the startup log).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.suspended.len(), self.silenced.len(), self.actors.len())
    }
}

/// The verdict on `event` by the built-in rules: anything from a blocked actor or domain is
/// rejected; a reply from a silenced domain is held.
pub fn judge(blocks: &Blocks, event: &InboxEvent) -> Verdict {
    let actor = event.actor();
    if blocks.actor_blocked(actor) {
        return Verdict::Reject {
            reason: format!("{actor} is blocked"),
        };
    }
    if let InboxEvent::Reply { .. } = event {
        let host = url::Url::parse(actor)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        if blocks.host_silenced(&host) {
            return Verdict::Hold {
                reason: format!("{host} is silenced"),
            };
        }
    }
    Verdict::Accept
}

fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_start_matches("*.")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// `host` itself or any parent domain (`a.b.spam.example` -> `b.spam.example` -> `spam.example`
/// -> `example`) in `set`.
fn matches_any(set: &BTreeSet<String>, host: &str) -> bool {
    if set.is_empty() || host.is_empty() {
        return false;
    }
    let mut rest = host;
    loop {
        if set.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) => rest = parent,
            None => return false,
        }
    }
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

    fn blocks(domains: &[&str]) -> Blocks {
        let mut b = Blocks::default();
        for d in domains {
            b.add(DomainBlock {
                domain: d.to_string(),
                severity: Severity::Suspend,
            });
        }
        b
    }

    #[test]
    fn can_block_a_domain_and_its_subdomains_only() {
        let b = blocks(&["spam.example"]);
        assert!(b.host_blocked("spam.example"));
        assert!(b.host_blocked("a.b.Spam.Example."));
        assert!(!b.host_blocked("notspam.example"));
        assert!(!b.host_blocked("example"));
        assert!(!b.host_blocked("spam.example.org"));
        assert!(b.url_blocked("https://m.spam.example:8443/users/x#main-key"));
        assert!(!b.url_blocked("https://ok.example/users/x"));
        assert!(b.url_blocked("not a url"));
    }

    #[test]
    fn can_block_single_actors() {
        let mut b = blocks(&[]);
        b.block_actor("https://ok.example/users/troll");
        assert!(b.actor_blocked("https://ok.example/users/troll"));
        assert!(!b.actor_blocked("https://ok.example/users/friend"));
    }

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

    #[test]
    fn can_load_the_config_and_its_csv() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("blocks.csv");
        std::fs::write(&csv, "#domain,#severity\nfrom-csv.example,suspend\n").unwrap();
        let b = Blocks::from_config(&crate::config::Moderation {
            blocked_domains: vec!["spam.example".into()],
            blocked_actors: vec!["https://ok.example/users/troll".into()],
            blocklist_csv: Some(csv),
        })
        .unwrap();
        assert_eq!(b.sizes(), (2, 0, 1));
        assert!(b.host_blocked("from-csv.example"));
        let err = Blocks::from_config(&crate::config::Moderation {
            blocklist_csv: Some(dir.path().join("gone.csv")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("moderation.blocklist_csv "),
            "{err}"
        );
    }
}

//! Built-in blocks: which remote domains and actors may not interact with this site, and the
//! verdict on each incoming event.
//!
//! This module owns the `[moderation]` rules once loaded ([`Blocks`], including the import of a
//! Mastodon domain-block CSV in [`blocklist`]), the events judged ([`event`]) and [`judge`], a
//! pure function from an [`InboxEvent`] to a [`Verdict`]. It imports neither federation nor the
//! store: the inbox asks [`Blocks::host_blocked`] before it fetches anything for a request (so a
//! blocked server never learns we looked at it), turns activities into events and applies the
//! verdict itself. Because events are plain serde data, a WASM plugin can later judge the same
//! events with the same verdicts.
//!
//! Severities of a Mastodon export: `suspend` blocks the domain (requests 403, follows rejected,
//! replies dropped). `silence` is kept but quieter: masthead has no timelines to hide things from,
//! so a silenced domain may follow, like and boost, but its replies are stored as *held* (listed by
//! `masthead replies`, never shown on pages or in comments.json). `noop` does nothing. Obfuscated
//! entries (`sp*m.example`) cannot be matched and are skipped with a warning.

pub mod blocklist;
pub mod event;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use blocklist::{parse_blocklist, DomainBlock, Severity};
pub use event::{
    EventKind, InboxEvent, Interaction, NoteAttachment, NoteDetails, NoteVisibility, OutgoingPost,
    PostRef, ReplyNote,
};

/// The block list could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The CSV named by `moderation.blocklist_csv` could not be read.
    #[error("moderation.blocklist_csv {path}: {source} (check the path in site.toml)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
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

    /// Whether `host` or a parent domain is silenced. A domain both suspended and silenced is
    /// silenced too: callers ask [`Blocks::host_blocked`] first.
    pub fn host_silenced(&self, host: &str) -> bool {
        matches_any(&self.silenced, &normalize_host(host))
    }

    /// Whether the host of `url` is suspended; a URL without a host is treated as blocked.
    pub fn url_blocked(&self, url: &str) -> bool {
        match host_of(url) {
            Some(host) => self.host_blocked(&host),
            None => true,
        }
    }

    /// [`Blocks::url_blocked`] of a URL already parsed.
    pub fn parsed_url_blocked(&self, url: &url::Url) -> bool {
        match url.host_str() {
            Some(host) => self.host_blocked(host),
            None => true,
        }
    }

    /// Whether `actor` is blocked by id or by domain.
    pub fn actor_blocked(&self, actor: &str) -> bool {
        self.actors.contains(actor) || self.url_blocked(actor)
    }

    /// How many distinct domains are suspended, how many silenced, and how many single actors are
    /// blocked (a domain named in both site.toml and the CSV counts once).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.suspended.len(), self.silenced.len(), self.actors.len())
    }
}

/// The verdict on `event` by the built-in rules: anything from a blocked actor or domain is
/// rejected, and so is a move to one (before the target is fetched); a reply from a silenced
/// domain is held.
pub fn judge(blocks: &Blocks, event: &InboxEvent) -> Verdict {
    let actor = &event.actor;
    if blocks.actor_blocked(actor) {
        return Verdict::Reject {
            reason: format!("{actor} is blocked"),
        };
    }
    if let EventKind::Moved { target } = &event.kind {
        if blocks.actor_blocked(target) {
            return Verdict::Reject {
                reason: format!("the move target {target} is blocked"),
            };
        }
    }
    if let EventKind::Reply { .. } = event.kind {
        let host = host_of(actor).unwrap_or_default();
        if blocks.host_silenced(&host) {
            return Verdict::Hold {
                reason: format!("{host} is silenced"),
            };
        }
    }
    Verdict::Accept
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
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

    #[test]
    fn can_judge_events_by_actor_and_domain() {
        let mut blocks = Blocks::default();
        blocks.add(DomainBlock {
            domain: "spam.example".into(),
            severity: Severity::Suspend,
        });
        blocks.add(DomainBlock {
            domain: "loud.example".into(),
            severity: Severity::Silence,
        });
        blocks.block_actor("https://ok.example/users/troll");
        let follow = |actor: &str| InboxEvent {
            actor: actor.into(),
            kind: EventKind::Follow {
                target: "news".into(),
                follow_id: format!("{actor}#f"),
            },
        };
        let reply = |actor: &str| InboxEvent {
            actor: actor.into(),
            kind: EventKind::Reply {
                note: ReplyNote {
                    id: format!("{actor}/n/1"),
                    url: None,
                    content_html: String::new(),
                    published: String::new(),
                    updated: None,
                    in_reply_to: None,
                    post: None,
                    mentions: vec!["news".into()],
                    public: true,
                    details: NoteDetails::default(),
                },
            },
        };
        assert_eq!(
            judge(&blocks, &follow("https://ok.example/users/friend")),
            Verdict::Accept
        );
        assert!(matches!(
            judge(&blocks, &follow("https://ok.example/users/troll")),
            Verdict::Reject { .. }
        ));
        assert!(matches!(
            judge(&blocks, &follow("https://m.spam.example/users/x")),
            Verdict::Reject { .. }
        ));
        assert!(matches!(
            judge(&blocks, &reply("https://loud.example/users/x")),
            Verdict::Hold { .. }
        ));
        assert_eq!(
            judge(&blocks, &follow("https://loud.example/users/x")),
            Verdict::Accept
        );
        // Events are plain data: a plugin would see this JSON.
        let v = serde_json::to_value(follow("https://ok.example/users/friend")).unwrap();
        assert_eq!(v["event"], "follow");
        assert_eq!(v["target"], "news");
    }
}

#[cfg(test)]
mod move_tests {
    use super::*;

    #[test]
    fn rejects_a_move_to_a_blocked_target() {
        let mut blocks = Blocks::default();
        blocks.add(DomainBlock {
            domain: "spam.example".into(),
            severity: Severity::Suspend,
        });
        blocks.block_actor("https://ok.example/users/troll");
        let moved = |target: &str| InboxEvent {
            actor: "https://ok.example/users/a".into(),
            kind: EventKind::Moved {
                target: target.into(),
            },
        };
        assert_eq!(
            judge(&blocks, &moved("https://ok.example/users/b")),
            Verdict::Accept
        );
        for target in [
            "https://ok.example/users/troll",
            "https://m.spam.example/users/x",
        ] {
            assert_eq!(
                judge(&blocks, &moved(target)),
                Verdict::Reject {
                    reason: format!("the move target {target} is blocked")
                }
            );
        }
    }
}

//! `[moderation]`: the built-in blocks. This file owns the table and its rules (domains are
//! hosts, actors are URLs, the block list file exists); `crate::moderation` turns the result into
//! the rules the inbox applies and reads the CSV file, when the server starts.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::site::valid_domain;
use super::validate::Checker;

/// `[moderation]`: who may not interact with this site at all. `crate::moderation` turns it into
/// the rules the inbox applies; the CSV file is read there, when the server starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moderation {
    /// Domains (lowercase) whose actors are refused; their subdomains are refused too.
    pub blocked_domains: Vec<String>,
    /// Actor ids (URLs) refused.
    pub blocked_actors: Vec<String>,
    /// A Mastodon domain-block export (or one domain per line), resolved against the site root.
    pub blocklist_csv: Option<PathBuf>,
}

/// The keys `[moderation]` accepts.
pub(super) const MODERATION_KEYS: &[&str] = &["blocked_domains", "blocked_actors", "blocklist_csv"];

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModeration {
    #[serde(default)]
    blocked_domains: Vec<Spanned<String>>,
    #[serde(default)]
    blocked_actors: Vec<Spanned<String>>,
    blocklist_csv: Option<Spanned<PathBuf>>,
}

impl Checker<'_> {
    /// Checks `[moderation]`: hosts, actor URLs, and that the block list file exists.
    pub(super) fn moderation(&mut self, raw: RawModeration) -> Moderation {
        let mut out = Moderation::default();
        for d in raw.blocked_domains {
            let value = d
                .get_ref()
                .trim()
                .trim_start_matches("*.")
                .to_ascii_lowercase();
            if valid_domain(&value) && !value.contains(':') {
                out.blocked_domains.push(value);
            } else {
                self.error(
                    d.span(),
                    format!(
                        "moderation.blocked_domains: {:?} is not a domain (write only the host, like spam.example; its subdomains are blocked too)",
                        d.get_ref()
                    ),
                );
            }
        }
        for a in raw.blocked_actors {
            match Url::parse(a.get_ref()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                    out.blocked_actors.push(url.to_string());
                }
                _ => self.error(
                    a.span(),
                    format!(
                        "moderation.blocked_actors: {:?} is not an actor URL (write the actor id, like https://spam.example/users/bot)",
                        a.get_ref()
                    ),
                ),
            }
        }
        if let Some(csv) = raw.blocklist_csv {
            let path = self.root.join(csv.get_ref());
            if path.is_file() {
                out.blocklist_csv = Some(path);
            } else {
                self.error(
                    csv.span(),
                    format!(
                        "moderation.blocklist_csv: {} does not exist (export it from Mastodon's Moderation > Federation page, or remove the key)",
                        csv.get_ref().display()
                    ),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use std::fs;

    #[test]
    fn can_read_the_moderation_table() {
        let dir = site_dir();
        fs::write(dir.path().join("blocks.csv"), "#domain,#severity\n").unwrap();
        let text = format!(
            "{GOOD}\n[moderation]\nblocked_domains = [\"Spam.Example\", \"*.bad.example\"]\nblocked_actors = [\"https://r.example/users/troll\"]\nblocklist_csv = \"blocks.csv\"\n"
        );
        let site = parse_in(&dir, &text).unwrap().site;
        assert_eq!(
            site.moderation,
            Moderation {
                blocked_domains: vec!["spam.example".into(), "bad.example".into()],
                blocked_actors: vec!["https://r.example/users/troll".into()],
                blocklist_csv: Some(dir.path().join("blocks.csv")),
            }
        );
        assert_eq!(
            parse_in(&dir, GOOD).unwrap().site.moderation,
            Moderation::default()
        );
    }

    #[test]
    fn rejects_bad_moderation_values_all_at_once() {
        let text = format!(
            "{GOOD}\n[moderation]\nblocked_domains = [\"https://spam.example/\"]\nblocked_actors = [\"troll@r.example\"]\nblocklist_csv = \"nope.csv\"\nblock = true\n"
        );
        assert_eq!(
            errors(&text),
            [
                "site.toml:8: moderation.blocked_domains: \"https://spam.example/\" is not a domain (write only the host, like spam.example; its subdomains are blocked too)",
                "site.toml:9: moderation.blocked_actors: \"troll@r.example\" is not an actor URL (write the actor id, like https://spam.example/users/bot)",
                "site.toml:10: moderation.blocklist_csv: nope.csv does not exist (export it from Mastodon's Moderation > Federation page, or remove the key)",
                "site.toml:11: unknown key `block` in [moderation] (did you mean `blocklist_csv`?)",
            ]
        );
        let text = format!("{GOOD}\n[moderation]\nblocked_domain = [\"spam.example\"]\n");
        assert_eq!(
            errors(&text),
            ["site.toml:8: unknown key `blocked_domain` in [moderation] (did you mean `blocked_domains`?)"]
        );
        let text = format!("{GOOD}\n[moderation]\nblocked_domains = \"spam.example\"\n");
        let got = errors(&text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("site.toml:8: moderation.blocked_domains"),
            "{got:?}"
        );
    }
}

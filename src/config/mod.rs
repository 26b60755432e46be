//! `site.toml`: strict serde structs, then one validation pass that reports every problem at once.
//!
//! This module owns reading and checking the site's configuration and turning it into a [`Site`]
//! the rest of the server can trust (absolute base URL, known handles, paths resolved against the
//! folder that holds site.toml). It does not read content files or touch the network; it only
//! looks at whether the files and folders site.toml names exist.
//!
//! Reading goes in three steps so that one run reports everything: the text is parsed into a
//! span-aware TOML tree (a syntax error stops here, reported alone); unknown keys are reported
//! with the nearest valid key and removed; each table is deserialized on its own, a wrongly typed
//! value reported and dropped. The rules are then checked on what was read. Every problem is a
//! [`Diagnostic`] with the line of the key, shaped `what is wrong, got VALUE (what to do)`.
//!
//! Here: [`Site`], loading and the error. One file per table holds its types, keys and rules
//! (`site` for `[site]`, `actor` for `[[actor]]`, `dev` for `[dev]`, `moderation` for
//! `[moderation]`, `limits` for `[limits]`, `plugin` for `[[plugin]]`); `validate` holds the pass
//! that reads the tree and collects the problems.

mod actor;
mod dev;
mod limits;
mod moderation;
mod plugin;
mod site;
#[cfg(test)]
mod test_support;
mod validate;

use std::path::{Path, PathBuf};

use toml::de::DeTable;
use url::Url;

use crate::diagnostics::{line_of, Diagnostic};

pub use actor::{Actor, ActorKind, Field, ObjectTypePolicy, RESERVED_HANDLES};
pub use dev::Dev;
pub use limits::Limits;
pub use moderation::Moderation;
pub use plugin::{valid_name as valid_plugin_name, Grant, Mode, OnError, Plugin};
pub use site::{
    host_with_port, Publish, PublishCommit, DEFAULT_DELETE_GRACE_SECS, DEFAULT_LISTEN,
    DEFAULT_MASS_DELETE_THRESHOLD, DEFAULT_PUSH_WINDOW_HOURS, DEFAULT_WATCH_DEBOUNCE,
};
pub use validate::nearest_key;

/// The validated site: what `serve` and `check` run from.
#[derive(Clone, Debug)]
pub struct Site {
    /// The folder holding site.toml; relative paths in the config are resolved against it.
    pub root: PathBuf,
    pub config_path: PathBuf,
    /// Where masthead is reached, e.g. `https://social.city.example`. No trailing slash.
    pub base_url: Url,
    /// The domain in handles (`@news@city.example`); may differ from `base_url`'s host.
    pub domain: String,
    /// Optional human name of the site (NodeInfo `nodeName`, page titles).
    pub name: Option<String>,
    /// Address `serve` listens on unless `--listen` says otherwise.
    pub listen: String,
    /// Where `serve` answers `GET /metrics` (Prometheus text format), on a listener of its own;
    /// off when absent.
    pub metrics_listen: Option<String>,
    /// Where the SQLite store and keys live.
    pub data_dir: PathBuf,
    /// The brand's own static site, when post pages live there (static-site mode).
    pub html_base_url: Option<Url>,
    /// Default language of posts (BCP 47 tag).
    pub language: String,
    /// How long `serve` lets a burst of file changes settle before rebuilding
    /// (`watch_debounce_ms`, 200 ms by default).
    pub watch_debounce: std::time::Duration,
    /// The working tree as saved, or what is committed on a git branch.
    pub publish: Publish,
    /// The time zone of front-matter dates written without one (`timezone`, default UTC).
    pub timezone: chrono_tz::Tz,
    /// A new post published longer ago than this goes to the outbox without being pushed
    /// (`push_window_hours`).
    pub push_window: std::time::Duration,
    /// How long a removed post stays served before its Delete (`delete_grace_secs`).
    pub delete_grace: std::time::Duration,
    /// More removals than this at once are held for `masthead publish --confirm`
    /// (`mass_delete_threshold`).
    pub mass_delete_threshold: usize,
    /// The accounts this site publishes, in config order.
    pub actors: Vec<Actor>,
    pub dev: Dev,
    /// Built-in blocks.
    pub moderation: Moderation,
    /// What one request may cost and how much is kept of what other servers send.
    pub limits: Limits,
    /// The WebAssembly plugins, in the order they run.
    pub plugins: Vec<Plugin>,
}

/// site.toml could not be used; every problem found is listed.
#[derive(Debug, thiserror::Error)]
#[error("{} has {} problem{}", .path.display(), .problems.len(), if .problems.len() == 1 { "" } else { "s" })]
pub struct ConfigError {
    pub path: PathBuf,
    /// Each problem, as `file:line: what (what to do)`.
    pub problems: Vec<Diagnostic>,
}

/// A loaded site and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub site: Site,
    /// Problems that do not stop the site from being served.
    pub warnings: Vec<Diagnostic>,
}

impl Site {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            problems: vec![Diagnostic::error(
                path,
                None,
                format!("cannot read the site config: {e} (run `masthead init` to create one)"),
            )],
        })?;
        Self::parse(path, &text)
    }

    /// Validates `text` as the contents of `path`; files it names are looked up next to `path`.
    ///
    /// A TOML syntax error is reported alone. Otherwise every unknown key, wrongly typed value
    /// and broken rule is reported together, sorted by line.
    pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
        let doc = DeTable::parse(text).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            problems: vec![Diagnostic::error(
                path,
                e.span().map(|s| line_of(text, s.start)),
                format!(
                    "invalid TOML: {} (fix the syntax on this line)",
                    e.message().trim()
                ),
            )],
        })?;
        let (site, errors, warnings) =
            validate::check(path, text, &site_root(path), doc.into_inner());
        match site {
            Some(site) if errors.is_empty() => Ok(Loaded { site, warnings }),
            _ => {
                debug_assert!(!errors.is_empty(), "a site went missing without an error");
                Err(ConfigError {
                    path: path.to_path_buf(),
                    problems: errors,
                })
            }
        }
    }

    /// The actor with this handle.
    pub fn actor(&self, handle: &str) -> Option<&Actor> {
        self.actors.iter().find(|a| a.handle == handle)
    }

    /// The language of a post by `actor` that names none itself.
    pub fn language_of(&self, actor: &Actor) -> String {
        actor
            .language
            .clone()
            .unwrap_or_else(|| self.language.clone())
    }
}

/// The folder holding site.toml; `.` for a bare file name.
fn site_root(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::fs;

    #[test]
    fn can_load_a_minimal_site_with_defaults() {
        let dir = site_dir();
        let loaded = parse_in(&dir, GOOD).unwrap();
        assert!(loaded.warnings.is_empty());
        let site = loaded.site;
        assert_eq!(site.base_url.as_str(), "https://social.city.example/");
        assert_eq!(site.domain, "social.city.example");
        assert_eq!(site.listen, DEFAULT_LISTEN);
        assert_eq!(site.metrics_listen, None, "off by default");
        assert_eq!(site.language, "en");
        assert_eq!(site.root, dir.path());
        assert_eq!(site.data_dir, dir.path().join(".masthead"));
        assert_eq!(site.timezone, chrono_tz::Tz::UTC);
        assert_eq!(site.push_window, std::time::Duration::from_secs(6 * 3600));
        assert_eq!(site.delete_grace, std::time::Duration::from_secs(60));
        assert_eq!(site.mass_delete_threshold, 5);
        let news = site.actor("news").unwrap();
        assert_eq!(news.name, "news");
        assert_eq!(news.kind, ActorKind::Organization);
        assert_eq!(news.content, PathBuf::from("content/news"));
        assert!(news.discoverable && news.indexable);
    }

    #[test]
    fn can_read_every_key() {
        let dir = site_dir();
        fs::create_dir_all(dir.path().join("img")).unwrap();
        fs::write(dir.path().join("img/avatar.png"), b"png").unwrap();
        fs::write(dir.path().join("img/header.webp"), b"webp").unwrap();
        fs::create_dir_all(dir.path().join("posts")).unwrap();
        let text = r#"[site]
base_url = "https://social.city.example:8443/"
domain = "city.example"
name = "City"
listen = "0.0.0.0:9000"
metrics_listen = "127.0.0.1:9464"
data_dir = "state"
html_base_url = "https://www.city.example"
language = "fr"
watch_debounce_ms = 50
timezone = "Europe/Paris"
push_window_hours = 24
delete_grace_secs = 300
mass_delete_threshold = 20

[[actor]]
handle = "news"
name = "City News"
type = "Group"
summary = "What the city does."
avatar = "img/avatar.png"
header = "img/header.webp"
fields = [{ name = "Website", value = "https://www.city.example" }]
content = "posts"
object_type = "auto"
manually_approves_followers = true
discoverable = false
indexable = false
also_known_as = ["https://old.example/users/news"]
language = "pt-BR"

[dev]
allow_http = false
allow_private_addresses = false
"#;
        let loaded = parse_in(&dir, text).unwrap();
        assert!(loaded.warnings.is_empty());
        let site = loaded.site;
        assert_eq!(site.base_url.as_str(), "https://social.city.example:8443/");
        assert_eq!(site.domain, "city.example");
        assert_eq!(site.name.as_deref(), Some("City"));
        assert_eq!(site.listen, "0.0.0.0:9000");
        assert_eq!(site.metrics_listen.as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(site.data_dir, dir.path().join("state"));
        assert_eq!(
            site.html_base_url.as_ref().map(Url::as_str),
            Some("https://www.city.example/")
        );
        assert_eq!(site.watch_debounce, std::time::Duration::from_millis(50));
        assert_eq!(site.dev, Dev::default());
        assert_eq!(site.timezone, chrono_tz::Europe::Paris);
        assert_eq!(site.push_window, std::time::Duration::from_secs(24 * 3600));
        assert_eq!(site.delete_grace, std::time::Duration::from_secs(300));
        assert_eq!(site.mass_delete_threshold, 20);
        let a = &site.actors[0];
        assert_eq!(a.name, "City News");
        assert_eq!(a.kind, ActorKind::Group);
        assert_eq!(a.summary, "What the city does.");
        assert_eq!(a.avatar, Some(PathBuf::from("img/avatar.png")));
        assert_eq!(a.header, Some(PathBuf::from("img/header.webp")));
        assert_eq!(
            a.fields,
            vec![Field {
                name: "Website".into(),
                value: "https://www.city.example".into()
            }]
        );
        assert_eq!(a.content, PathBuf::from("posts"));
        assert_eq!(a.object_type, ObjectTypePolicy::Auto);
        assert!(a.manually_approves_followers && !a.discoverable && !a.indexable);
        assert_eq!(
            a.also_known_as[0].as_str(),
            "https://old.example/users/news"
        );
        assert_eq!(site.language_of(a), "pt-BR");
    }

    #[test]
    fn rejects_a_syntax_error_alone_with_its_line() {
        let text = "[site]\nbase_url = \nhandel = \"x\"\n";
        assert_eq!(
            bare_errors(text),
            ["site.toml:2: invalid TOML: string values must be quoted, expected literal string (fix the syntax on this line)"]
        );
    }

    #[test]
    fn reports_three_different_problems_together() {
        let text = r#"[site]
base_url = "http://social.city.example"

[[actor]]
handel = "x"
handle = "News Desk"
"#;
        let err = Site::parse(Path::new("site.toml"), text).unwrap_err();
        let shown: Vec<String> = std::iter::once(err.to_string())
            .chain(err.problems.iter().map(ToString::to_string))
            .collect();
        assert_eq!(
            shown,
            [
                "site.toml has 3 problems",
                "site.toml:2: site.base_url must use https, got \"http://social.city.example\" (use https, or set allow_http = true under [dev] for local testing)",
                "site.toml:5: unknown key `handel` in [[actor]] (did you mean `handle`?)",
                "site.toml:6: actor \"News Desk\": handle may only contain a-z, 0-9 and _ (got an uppercase letter 'N')",
            ]
        );
    }

    #[test]
    fn rejects_a_time_zone_that_is_not_an_iana_name() {
        let text = GOOD.replace("[site]\n", "[site]\ntimezone = \"europe/paris\"\n");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.timezone must be a time zone name, got \"europe/paris\" (write \"Europe/Paris\")"]
        );
        let text = GOOD.replace("[site]\n", "[site]\ntimezone = \"CET+1\"\n");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.timezone must be a time zone name, got \"CET+1\" (use an IANA name like Europe/Paris, America/New_York or UTC)"]
        );
    }
}

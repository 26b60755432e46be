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

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;
use url::Url;

use crate::diagnostics::{line_of, Diagnostic};

/// The validated site: what `serve` and `check` run from.
#[derive(Clone, Debug)]
pub struct Site {
    /// The folder holding site.toml; relative paths in the config are resolved against it.
    pub root: PathBuf,
    /// The config file itself.
    pub config_path: PathBuf,
    /// Where masthead is reached, e.g. `https://social.city.example`. No trailing slash.
    pub base_url: Url,
    /// The domain in handles (`@news@city.example`); may differ from `base_url`'s host.
    pub domain: String,
    /// Optional human name of the site (NodeInfo `nodeName`, page titles).
    pub name: Option<String>,
    /// Address `serve` listens on unless `--listen` says otherwise.
    pub listen: String,
    /// Where the SQLite store and keys live.
    pub data_dir: PathBuf,
    /// The brand's own static site, when post pages live there (static-site mode).
    pub html_base_url: Option<Url>,
    /// Default language of posts (BCP 47 tag).
    pub language: String,
    /// The accounts this site publishes, in config order.
    pub actors: Vec<Actor>,
    /// Development switches.
    pub dev: Dev,
    /// Built-in blocks.
    pub moderation: Moderation,
}

/// One published account.
#[derive(Clone, Debug)]
pub struct Actor {
    /// `news` in `@news@city.example`: a-z, 0-9 and `_`.
    pub handle: String,
    /// Display name.
    pub name: String,
    /// ActivityStreams actor type.
    pub kind: ActorKind,
    /// Profile text, Markdown.
    pub summary: String,
    /// Avatar image, relative to the site root.
    pub avatar: Option<PathBuf>,
    /// Header image, relative to the site root.
    pub header: Option<PathBuf>,
    /// Profile fields (name/value); URL values become `rel="me"` links.
    pub fields: Vec<Field>,
    /// The folder of this actor's posts, relative to the site root.
    pub content: PathBuf,
    /// How posts become objects unless a post says otherwise.
    pub object_type: ObjectTypePolicy,
    /// Follows wait for `masthead follows approve`.
    pub manually_approves_followers: bool,
    /// May appear in directories and recommendations.
    pub discoverable: bool,
    /// Posts may be indexed by full-text search.
    pub indexable: bool,
    /// Former accounts this one is also known as (actor URLs).
    pub also_known_as: Vec<Url>,
    /// Default language of this actor's posts, overriding the site's.
    pub language: Option<String>,
}

/// A profile field.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Label, e.g. "Website".
    pub name: String,
    /// Value; an http(s) URL becomes a link with `rel="me"`.
    pub value: String,
}

/// The ActivityStreams actor types a brand may choose.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum ActorKind {
    /// A company, council, ministry or museum (the default).
    #[default]
    Organization,
    /// An automated account.
    Service,
    /// A piece of software.
    Application,
    /// A group (Lemmy and other threadiverse servers treat it as a community).
    Group,
    /// A person.
    Person,
}

impl ActorKind {
    /// The `type` written in the actor document.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Organization => "Organization",
            ActorKind::Service => "Service",
            ActorKind::Application => "Application",
            ActorKind::Group => "Group",
            ActorKind::Person => "Person",
        }
    }
}

/// Which ActivityStreams type a post is published as.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectTypePolicy {
    /// `Note`: full text on every server (the default).
    #[default]
    Note,
    /// `Article`: title + summary + link on Mastodon, full text elsewhere.
    Article,
    /// `Article` when the post has a title and is longer than a Mastodon post, else `Note`.
    Auto,
}

/// `[dev]`: switches for local development and tests.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Dev {
    /// Allow an `http://` base_url.
    pub allow_http: bool,
    /// Allow outgoing requests to loopback and private addresses.
    pub allow_private_addresses: bool,
}

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

/// site.toml could not be used; every problem found is listed.
#[derive(Debug, thiserror::Error)]
#[error("{} has {} problem{}", .path.display(), .problems.len(), if .problems.len() == 1 { "" } else { "s" })]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// Each problem, as `file:line: what (what to do)`.
    pub problems: Vec<Diagnostic>,
}

/// A loaded site and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated site.
    pub site: Site,
    /// Problems that do not stop the site from being served.
    pub warnings: Vec<Diagnostic>,
}

/// The keys each table of site.toml accepts. They mirror the `Raw*` structs below, whose
/// `deny_unknown_fields` is the backstop (`can_read_every_key` keeps the two in step); listing
/// them here lets every unknown key be reported at once, with the valid key nearest to it.
const TOP_KEYS: &[&str] = &["site", "actor", "dev", "moderation"];
const SITE_KEYS: &[&str] = &[
    "base_url",
    "domain",
    "name",
    "listen",
    "data_dir",
    "html_base_url",
    "language",
];
const ACTOR_KEYS: &[&str] = &[
    "handle",
    "name",
    "type",
    "summary",
    "avatar",
    "header",
    "fields",
    "content",
    "object_type",
    "manually_approves_followers",
    "discoverable",
    "indexable",
    "also_known_as",
    "language",
];
const FIELD_KEYS: &[&str] = &["name", "value"];
const DEV_KEYS: &[&str] = &["allow_http", "allow_private_addresses"];
const MODERATION_KEYS: &[&str] = &["blocked_domains", "blocked_actors", "blocklist_csv"];

/// Handles an actor may not take. They are the first path segments of masthead's own routes
/// (`/actor` is the instance actor, `/inbox` the shared inbox, then `/users/`, `/tags/`, `/media/`,
/// `/nodeinfo/`; see `crate::urls`). Actor ids live under `/users/` so no path collides
/// today, but `@inbox@city.example` or `@actor@city.example` would read as the server itself in
/// WebFinger answers and logs, and keeping these free leaves room for `/{handle}` shortcuts.
/// `well-known` needs no entry: `-` is never valid in a handle.
pub const RESERVED_HANDLES: &[&str] = &["actor", "inbox", "users", "tags", "media", "nodeinfo"];

/// Longest handle, in characters (Mastodon's limit for usernames).
const MAX_HANDLE_CHARS: usize = 30;
/// Longest display name, in characters (what Mastodon keeps of a remote display name).
const MAX_NAME_CHARS: usize = 100;
/// Longest summary, in characters. Mastodon stores remote bios up to about 20 kB but lets its own
/// users write 500; above 500 is a warning, above 5000 an error.
const MAX_SUMMARY_CHARS: usize = 5000;
/// Longest summary every app shows whole.
const SHOWN_SUMMARY_CHARS: usize = 500;
/// Most profile fields Mastodon keeps of a remote actor.
const MAX_FIELDS: usize = 50;
/// Most profile fields Mastodon shows.
const SHOWN_FIELDS: usize = 4;
/// Image types fediverse servers accept for avatars and headers, by file extension.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    base_url: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    name: Option<String>,
    listen: Option<Spanned<String>>,
    data_dir: Option<PathBuf>,
    html_base_url: Option<Spanned<String>>,
    language: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    handle: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    #[serde(rename = "type", default)]
    kind: ActorKind,
    summary: Option<Spanned<String>>,
    avatar: Option<Spanned<PathBuf>>,
    header: Option<Spanned<PathBuf>>,
    fields: Option<Spanned<Vec<Spanned<RawField>>>>,
    content: Option<Spanned<PathBuf>>,
    #[serde(default)]
    object_type: ObjectTypePolicy,
    #[serde(default)]
    manually_approves_followers: bool,
    discoverable: Option<bool>,
    indexable: Option<bool>,
    #[serde(default)]
    also_known_as: Vec<Spanned<String>>,
    language: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDev {
    allow_http: Option<Spanned<bool>>,
    allow_private_addresses: Option<Spanned<bool>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModeration {
    #[serde(default)]
    blocked_domains: Vec<Spanned<String>>,
    #[serde(default)]
    blocked_actors: Vec<Spanned<String>>,
    blocklist_csv: Option<Spanned<PathBuf>>,
}

/// One `[[actor]]` table as read, before its values are checked.
struct ActorEntry {
    /// `actor "news"`, or `actor #2` when the handle is missing or empty.
    label: String,
    /// The table, for problems that have no key of their own (a missing content folder).
    span: Range<usize>,
    /// `None` when a value had the wrong type (already reported).
    raw: Option<RawActor>,
}

/// Default listen address when site.toml names none.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

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
        let root = site_root(path);
        let mut checker = Checker {
            path,
            text,
            root: &root,
            errors: Vec::new(),
            warnings: Vec::new(),
            mistyped: Vec::new(),
        };
        let site = checker.check(doc.into_inner());
        let Checker {
            mut errors,
            mut warnings,
            ..
        } = checker;
        // File order reads best; problems without a line (a missing table) come last.
        errors.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
        warnings.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
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

/// Collects every problem of one site.toml.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    root: &'a Path,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Keys dropped for a wrongly typed value, as `site.base_url`, `actor "news": handle` or
    /// `actor`, so that they are not reported a second time as missing.
    mistyped: Vec<String>,
}

impl Checker<'_> {
    fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        span.map(|s| line_of(self.text, s.start))
    }

    fn error(&mut self, span: impl Into<Option<Range<usize>>>, message: impl Into<String>) {
        let line = self.line(span.into());
        self.errors
            .push(Diagnostic::error(self.path, line, message));
    }

    fn warning(&mut self, span: impl Into<Option<Range<usize>>>, message: impl Into<String>) {
        let line = self.line(span.into());
        self.warnings
            .push(Diagnostic::warning(self.path, line, message));
    }

    /// Reads the document into the raw structs, then checks every rule; `None` when some value
    /// was missing or unusable (always with an error recorded).
    fn check(&mut self, mut top: DeTable<'_>) -> Option<Site> {
        self.prune(&mut top, TOP_KEYS, "at the top level");
        let site = match top.remove("site") {
            Some(v) => self.table(v, "site", "[site]", SITE_KEYS, "site."),
            None => {
                self.error(
                    None,
                    "no [site] table (add [site] with base_url = \"https://social.example.org\")",
                );
                None
            }
        };
        let dev: RawDev = match top.remove("dev") {
            Some(v) => self
                .table(v, "dev", "[dev]", DEV_KEYS, "dev.")
                .unwrap_or_default(),
            None => RawDev::default(),
        };
        let moderation: RawModeration = match top.remove("moderation") {
            Some(v) => self
                .table(
                    v,
                    "moderation",
                    "[moderation]",
                    MODERATION_KEYS,
                    "moderation.",
                )
                .unwrap_or_default(),
            None => RawModeration::default(),
        };
        let moderation = self.moderation(moderation);
        let actors = match top.remove("actor") {
            Some(v) => self.actor_entries(v),
            None => Vec::new(),
        };
        self.validate(site, dev, actors)
            .map(|site| Site { moderation, ..site })
    }

    /// Checks `[moderation]`: hosts, actor URLs, and that the block list file exists.
    fn moderation(&mut self, raw: RawModeration) -> Moderation {
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

    /// Reports and removes the keys of `table` that are not in `known`.
    fn prune(&mut self, table: &mut DeTable<'_>, known: &[&str], place: &str) {
        let unknown: Vec<(String, Range<usize>)> = table
            .keys()
            .filter(|k| !known.contains(&k.get_ref().as_ref()))
            .map(|k| (k.get_ref().to_string(), k.span()))
            .collect();
        for (key, span) in unknown {
            let hint = match nearest(&key, known) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("valid keys: {}", known.join(", ")),
            };
            self.error(span, format!("unknown key `{key}` {place} ({hint})"));
            table.remove(key.as_str());
        }
    }

    /// Checks that `value` (the table `[header]`) is a table, prunes its unknown keys and
    /// deserializes it; type errors are reported as `{prefix}{key}: ...`.
    fn table<T: DeserializeOwned>(
        &mut self,
        mut value: Spanned<DeValue<'_>>,
        key: &str,
        header: &str,
        known: &[&str],
        prefix: &str,
    ) -> Option<T> {
        let span = value.span();
        let DeValue::Table(table) = value.get_mut() else {
            let got = a_type(value.get_ref());
            self.error(
                span,
                format!("`{key}` must be a table, got {got} (write it as a {header} section)"),
            );
            return None;
        };
        self.prune(table, known, &format!("in {header}"));
        self.deserialize(value, prefix)
    }

    /// Deserializes a pruned table. A wrongly typed value is reported with the key holding it,
    /// and that key is dropped and the table read again, so one bad value hides nothing else.
    fn deserialize<T: DeserializeOwned>(
        &mut self,
        mut value: Spanned<DeValue<'_>>,
        prefix: &str,
    ) -> Option<T> {
        loop {
            let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
                Ok(v) => return Some(v),
                Err(e) => e,
            };
            let span = err.span();
            let DeValue::Table(table) = value.get_mut() else {
                self.error(span, format!("{prefix}{}", err.message().trim()));
                return None;
            };
            let key = span.as_ref().and_then(|s| {
                table
                    .iter()
                    .find(|(_, v)| v.span().start <= s.start && s.end <= v.span().end)
                    .map(|(k, _)| k.get_ref().to_string())
            });
            let Some(key) = key else {
                self.error(span, format!("{prefix}{}", err.message().trim()));
                return None;
            };
            let name = format!("{prefix}{key}");
            self.error(span, value_error(&name, err.message()));
            self.mistyped.push(name);
            table.remove(key.as_str());
        }
    }

    /// Reads `actor`, which should be an array of tables (`[[actor]]`).
    fn actor_entries(&mut self, value: Spanned<DeValue<'_>>) -> Vec<ActorEntry> {
        let span = value.span();
        let items: Vec<Spanned<DeValue<'_>>> = match value.into_inner() {
            DeValue::Array(items) => items.iter().cloned().collect(),
            table @ DeValue::Table(_) => {
                self.error(
                    span.clone(),
                    "`actor` must be a list of tables, got a single [actor] table (write [[actor]], with double brackets)",
                );
                vec![Spanned::new(span, table)]
            }
            other => {
                self.error(
                    span,
                    format!(
                        "`actor` must be a list of tables, got {} (write each actor as an [[actor]] section)",
                        a_type(&other)
                    ),
                );
                self.mistyped.push("actor".to_string());
                return Vec::new();
            }
        };
        let mut entries = Vec::new();
        for (i, mut item) in items.into_iter().enumerate() {
            let span = item.span();
            let DeValue::Table(table) = item.get_mut() else {
                let got = a_type(item.get_ref());
                self.error(
                    span.clone(),
                    format!("actor #{}: must be a table, got {got} (write each actor as an [[actor]] section)", i + 1),
                );
                entries.push(ActorEntry {
                    label: format!("actor #{}", i + 1),
                    span,
                    raw: None,
                });
                continue;
            };
            let label = match table.get("handle").and_then(|h| h.get_ref().as_str()) {
                Some(h) if !h.is_empty() => format!("actor {h:?}"),
                _ => format!("actor #{}", i + 1),
            };
            self.prune(table, ACTOR_KEYS, "in [[actor]]");
            if let Some(fields) = table.get_mut("fields") {
                if let DeValue::Array(fields) = fields.get_mut() {
                    for field in fields.iter_mut() {
                        if let DeValue::Table(field) = field.get_mut() {
                            self.prune(field, FIELD_KEYS, "in [[actor.fields]]");
                        }
                    }
                }
            }
            let raw = self.deserialize(item, &format!("{label}: "));
            entries.push(ActorEntry { label, span, raw });
        }
        entries
    }

    /// Checks every rule on the read values and builds the site when nothing is wrong.
    fn validate(
        &mut self,
        raw: Option<RawSite>,
        dev: RawDev,
        entries: Vec<ActorEntry>,
    ) -> Option<Site> {
        let allow_http = dev.allow_http.as_ref().is_some_and(|v| *v.get_ref());
        if allow_http {
            let span = dev.allow_http.as_ref().map(Spanned::span);
            self.warning(
                span,
                "[dev] allow_http = true: an http base_url is accepted, and other servers will not federate with it (remove it in production)",
            );
        }
        let allow_private = dev
            .allow_private_addresses
            .as_ref()
            .is_some_and(|v| *v.get_ref());
        if allow_private {
            let span = dev.allow_private_addresses.as_ref().map(Spanned::span);
            self.warning(
                span,
                "[dev] allow_private_addresses = true: outgoing requests may reach loopback and private addresses (remove it in production)",
            );
        }

        let site_values = raw.map(|raw| {
            let values = self.site_values(&raw, allow_http);
            (raw, values)
        });

        // An `actor` that is not a list was reported already; "none defined" would repeat it.
        if entries.is_empty() && !self.mistyped.iter().any(|k| k == "actor") {
            self.error(
                None,
                "no [[actor]] defined (add one: an [[actor]] section with handle = \"news\")",
            );
        }
        let mut seen: Vec<(String, Range<usize>)> = Vec::new();
        let mut actors = Vec::new();
        for entry in entries {
            let Some(raw) = entry.raw else { continue };
            if let Some(actor) = self.actor(&entry.label, entry.span, raw, &mut seen) {
                actors.push(actor);
            }
        }

        let (raw, (base_url, domain, html_base_url)) = site_values?;
        let site = Site {
            config_path: self.path.to_path_buf(),
            base_url: base_url?,
            domain: domain?,
            name: raw.name,
            listen: raw
                .listen
                .map(Spanned::into_inner)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            data_dir: self
                .root
                .join(raw.data_dir.unwrap_or_else(|| PathBuf::from(".masthead"))),
            html_base_url,
            language: raw
                .language
                .map(Spanned::into_inner)
                .unwrap_or_else(|| "en".to_string()),
            actors,
            dev: Dev {
                allow_http,
                allow_private_addresses: allow_private,
            },
            moderation: Moderation::default(),
            root: self.root.to_path_buf(),
        };
        Some(site)
    }

    /// Checks `[site]`; returns the base URL, domain and html_base_url when they are usable.
    fn site_values(
        &mut self,
        raw: &RawSite,
        allow_http: bool,
    ) -> (Option<Url>, Option<String>, Option<Url>) {
        let base_url = self.base_url(raw.base_url.as_ref(), allow_http);
        let domain = match &raw.domain {
            Some(d) => self.domain(d),
            None => base_url.as_ref().map(host_with_port),
        };
        if let Some(listen) = &raw.listen {
            if listen.get_ref().parse::<SocketAddr>().is_err() {
                self.error(
                    listen.span(),
                    format!(
                        "site.listen must be an IP address and port, got {:?} (write e.g. 127.0.0.1:8080 for this machine only, or 0.0.0.0:8080 for every interface)",
                        listen.get_ref()
                    ),
                );
            }
        }
        let html_base_url = raw.html_base_url.as_ref().and_then(|u| {
            match Url::parse(u.get_ref()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
                _ => {
                    self.error(
                        u.span(),
                        format!(
                            "site.html_base_url must be an http(s) URL, got {:?} (write it like https://city.example)",
                            u.get_ref()
                        ),
                    );
                    None
                }
            }
        });
        if let Some(language) = &raw.language {
            self.language("site.language", language);
        }

        (base_url, domain, html_base_url)
    }

    /// `site.base_url`: an absolute https URL (http with `[dev] allow_http`), no query or fragment.
    fn base_url(&mut self, raw: Option<&Spanned<String>>, allow_http: bool) -> Option<Url> {
        let Some(raw) = raw else {
            if self.mistyped.iter().any(|k| k == "site.base_url") {
                return None;
            }
            self.error(
                None,
                "[site] has no base_url (add base_url = \"https://social.example.org\", the address people reach this server at)",
            );
            return None;
        };
        let value = raw.get_ref();
        let url = match Url::parse(value.trim_end_matches('/')) {
            Ok(url) if url.has_host() => url,
            Ok(_) | Err(_) => {
                self.error(
                    raw.span(),
                    format!(
                        "site.base_url must be an absolute URL, got {value:?} (write it like https://social.example.org)"
                    ),
                );
                return None;
            }
        };
        let mut ok = true;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            "http" => {
                ok = false;
                self.error(
                    raw.span(),
                    format!(
                        "site.base_url must use https, got {value:?} (use https, or set allow_http = true under [dev] for local testing)"
                    ),
                );
            }
            _ => {
                ok = false;
                self.error(
                    raw.span(),
                    format!(
                        "site.base_url must be an https URL, got {value:?} (write it like https://social.example.org)"
                    ),
                );
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            ok = false;
            self.error(
                raw.span(),
                format!(
                    "site.base_url must not have a query or fragment, got {value:?} (remove everything from the ? or #)"
                ),
            );
        }
        ok.then_some(url)
    }

    /// `site.domain`: a host, optionally with a port.
    fn domain(&mut self, raw: &Spanned<String>) -> Option<String> {
        let value = raw.get_ref();
        if valid_domain(value) {
            return Some(value.to_ascii_lowercase());
        }
        self.error(
            raw.span(),
            format!(
                "site.domain must be a host name, optionally with a port, got {value:?} (write only the host, like city.example)"
            ),
        );
        None
    }

    /// A language tag, at `key`.
    fn language(&mut self, key: &str, raw: &Spanned<String>) {
        let value = raw.get_ref();
        if plausible_language_tag(value) {
            return;
        }
        let hint = if value.contains('_') && plausible_language_tag(&value.replace('_', "-")) {
            format!("write {:?}, with - instead of _", value.replace('_', "-"))
        } else {
            "use a BCP 47 tag like en, fr or pt-BR".to_string()
        };
        self.error(
            raw.span(),
            format!("{key} must be a language tag, got {value:?} ({hint})"),
        );
    }

    /// Checks one actor; `None` when a required value is missing (reported).
    fn actor(
        &mut self,
        who: &str,
        span: Range<usize>,
        raw: RawActor,
        seen: &mut Vec<(String, Range<usize>)>,
    ) -> Option<Actor> {
        let mut handle_ok = false;
        let handle = match &raw.handle {
            Some(h) => {
                handle_ok = self.handle(who, h, seen);
                h.get_ref().clone()
            }
            None if self.mistyped.contains(&format!("{who}: handle")) => String::new(),
            None => {
                self.error(
                    span.clone(),
                    format!("{who}: has no handle (add handle = \"news\", the name in @news@your.domain)"),
                );
                String::new()
            }
        };
        if let Some(name) = &raw.name {
            let chars = name.get_ref().chars().count();
            if chars > MAX_NAME_CHARS {
                self.error(
                    name.span(),
                    format!("{who}: name must be at most {MAX_NAME_CHARS} characters, got {chars} (shorten it)"),
                );
            }
        }
        if let Some(summary) = &raw.summary {
            let chars = summary.get_ref().chars().count();
            if chars > MAX_SUMMARY_CHARS {
                self.error(
                    summary.span(),
                    format!("{who}: summary must be at most {MAX_SUMMARY_CHARS} characters, got {chars} (shorten it)"),
                );
            } else if chars > SHOWN_SUMMARY_CHARS {
                self.warning(
                    summary.span(),
                    format!("{who}: summary is {chars} characters, more than the {SHOWN_SUMMARY_CHARS} Mastodon allows its own users, and some apps cut it short (shorten it to keep it whole)"),
                );
            }
        }
        for (key, image) in [("avatar", &raw.avatar), ("header", &raw.header)] {
            if let Some(image) = image {
                self.image(who, key, image);
            }
        }
        let mut fields = Vec::new();
        if let Some(list) = &raw.fields {
            let n = list.get_ref().len();
            if n > MAX_FIELDS {
                self.error(
                    list.span(),
                    format!("{who}: fields may hold at most {MAX_FIELDS} entries, got {n} (remove some)"),
                );
            } else if n > SHOWN_FIELDS {
                self.warning(
                    list.span(),
                    format!("{who}: {n} fields, but Mastodon shows only the first {SHOWN_FIELDS} (put the important ones first)"),
                );
            }
            for (i, field) in list.get_ref().iter().enumerate() {
                let f = field.get_ref();
                let name = f.name.as_deref().unwrap_or("").trim();
                let value = f.value.as_deref().unwrap_or("").trim();
                for (part, text) in [("name", name), ("value", value)] {
                    if text.is_empty() {
                        self.error(
                            field.span(),
                            format!("{who}: field {} has an empty {part} (fill it in or remove the field)", i + 1),
                        );
                    }
                }
                fields.push(Field {
                    name: name.to_string(),
                    value: value.to_string(),
                });
            }
        }
        let content = match &raw.content {
            Some(c) => {
                self.content(who, c.get_ref(), c.span());
                c.get_ref().clone()
            }
            None => {
                let c = PathBuf::from("content").join(&handle);
                // A bad handle makes a bad default folder; that is reported once, as the handle.
                if handle_ok {
                    self.content(who, &c, span);
                }
                c
            }
        };
        let mut also_known_as = Vec::new();
        for aka in &raw.also_known_as {
            match Url::parse(aka.get_ref()) {
                Ok(url) if url.scheme() == "https" && url.has_host() => also_known_as.push(url),
                _ => self.error(
                    aka.span(),
                    format!(
                        "{who}: also_known_as entries must be https URLs, got {:?} (give the old account's actor URL, like https://old.example/users/news)",
                        aka.get_ref()
                    ),
                ),
            }
        }
        if let Some(language) = &raw.language {
            self.language(&format!("{who}: language"), language);
        }
        raw.handle.as_ref()?;
        Some(Actor {
            name: raw
                .name
                .map(Spanned::into_inner)
                .unwrap_or_else(|| handle.clone()),
            handle,
            kind: raw.kind,
            summary: raw.summary.map(Spanned::into_inner).unwrap_or_default(),
            avatar: raw.avatar.map(Spanned::into_inner),
            header: raw.header.map(Spanned::into_inner),
            fields,
            content,
            object_type: raw.object_type,
            manually_approves_followers: raw.manually_approves_followers,
            discoverable: raw.discoverable.unwrap_or(true),
            indexable: raw.indexable.unwrap_or(true),
            also_known_as,
            language: raw.language.map(Spanned::into_inner),
        })
    }

    /// A handle's characters, length, reservation and uniqueness; true when it is usable as a
    /// folder name (non-empty, allowed characters, not too long).
    fn handle(
        &mut self,
        who: &str,
        raw: &Spanned<String>,
        seen: &mut Vec<(String, Range<usize>)>,
    ) -> bool {
        let handle = raw.get_ref();
        if handle.is_empty() {
            self.error(
                raw.span(),
                format!("{who}: handle must not be empty (write the name in @name@your.domain, e.g. \"news\")"),
            );
            return false;
        }
        let mut usable = true;
        if let Some(c) = handle
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            usable = false;
            self.error(
                raw.span(),
                format!(
                    "{who}: handle may only contain a-z, 0-9 and _ (got {})",
                    describe_char(c)
                ),
            );
        }
        let chars = handle.chars().count();
        if chars > MAX_HANDLE_CHARS {
            usable = false;
            self.error(
                raw.span(),
                format!("{who}: handle must be at most {MAX_HANDLE_CHARS} characters, got {chars} (shorten it)"),
            );
        }
        if RESERVED_HANDLES.contains(&handle.as_str()) {
            self.error(
                raw.span(),
                format!(
                    "{who}: handle {handle:?} is reserved for masthead's own routes ({}) (choose another handle)",
                    RESERVED_HANDLES.join(", ")
                ),
            );
        }
        if let Some((_, first)) = seen.iter().find(|(h, _)| h == handle) {
            let line = line_of(self.text, first.start);
            self.error(
                raw.span(),
                format!("{who}: handle {handle:?} is already used by the actor on line {line} (give each actor its own handle)"),
            );
        } else {
            seen.push((handle.clone(), raw.span()));
        }
        usable
    }

    /// An avatar or header image: inside the site folder, an image type, present.
    fn image(&mut self, who: &str, key: &str, raw: &Spanned<PathBuf>) {
        let rel = raw.get_ref();
        let shown = rel.display();
        if !stays_inside(self.root, rel) {
            self.error(
                raw.span(),
                format!("{who}: {key} must be inside the site folder, got \"{shown}\" (copy the image into the site folder and give its path from there)"),
            );
            return;
        }
        let ext = rel
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            self.error(
                raw.span(),
                format!("{who}: {key} must be a .png, .jpg, .jpeg, .gif or .webp image, got \"{shown}\" (convert it to PNG)"),
            );
            return;
        }
        let full = self.root.join(rel);
        if full.is_dir() {
            self.error(
                raw.span(),
                format!("{who}: {key} \"{shown}\" is a folder, not an image (point {key} at the image file)"),
            );
        } else if !full.exists() {
            self.error(
                raw.span(),
                format!("{who}: {key} \"{shown}\" does not exist (add the image to the site folder or fix the path)"),
            );
        }
    }

    /// The content folder: inside the site folder, present.
    fn content(&mut self, who: &str, rel: &Path, span: Range<usize>) {
        let shown = rel.display();
        if !stays_inside(self.root, rel) {
            self.error(
                span,
                format!("{who}: content must be a folder inside the site folder, got \"{shown}\" (move the posts into the site folder)"),
            );
            return;
        }
        let full = self.root.join(rel);
        if full.is_file() {
            self.error(
                span,
                format!("{who}: content \"{shown}\" is a file, not a folder (point content at a folder of Markdown files)"),
            );
        } else if !full.is_dir() {
            self.error(
                span,
                format!(
                    "{who}: content folder \"{shown}\" does not exist (create it in the site folder: mkdir -p {})",
                    shell_word(&shown.to_string())
                ),
            );
        }
    }
}

/// A value serde could not read, as `{key} must be {expected}, got {found} (what to do)`.
fn value_error(key: &str, message: &str) -> String {
    let message = message.trim();
    let split = |rest: &str| {
        rest.split_once(", expected ")
            .map(|(found, expected)| (found.to_string(), expected.to_string()))
    };
    if let Some((found, expected)) = message.strip_prefix("invalid type: ").and_then(split) {
        let hint = match expected.as_str() {
            "a string" => "write it in double quotes",
            "a boolean" => "write true or false",
            "a sequence" => "write a list in square brackets",
            _ => "fix the value",
        };
        return format!("{key} must be {expected}, got {found} ({hint})");
    }
    if let Some((found, expected)) = message.strip_prefix("unknown variant ").and_then(split) {
        return format!("{key} must be {expected}, got {found}");
    }
    format!("{key}: {message}")
}

/// The valid key closest to `key`: within an edit distance of about a third of its length, or
/// one that contains it or is contained by it (`url` for `base_url`).
fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    let limit = (key.chars().count() / 3).max(2);
    let by_distance = known
        .iter()
        .map(|k| (edit_distance(&key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k);
    by_distance.or_else(|| {
        known
            .iter()
            .filter(|k| key.len() >= 3 && (k.contains(key.as_str()) || key.contains(**k)))
            .min_by_key(|k| k.len())
            .copied()
    })
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters (`handel` is one edit from `handle`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// How a person would name a character that is not allowed: "a space", "an uppercase letter 'N'".
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        c if c.is_uppercase() => format!("an uppercase letter '{c}'"),
        c if c.is_control() || c.is_whitespace() => format!("{c:?}"),
        c => format!("'{c}'"),
    }
}

/// A TOML value's type with its article: "a string", "an integer".
fn a_type(value: &DeValue<'_>) -> String {
    let name = value.type_str();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

/// `word` as one shell word: quoted when it holds anything but plain path characters.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-');
    if word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A host name or IP literal, optionally with `:port`, and nothing else.
fn valid_domain(value: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if value.is_empty() || !value.chars().all(allowed) {
        return false;
    }
    match Url::parse(&format!("https://{value}/")) {
        Ok(url) => url.has_host() && url.path() == "/" && url.username().is_empty(),
        Err(_) => false,
    }
}

/// A plausible BCP 47 tag: a 2-3 letter ISO 639 language, then subtags of 1-8 letters or digits
/// (`en`, `fr`, `pt-BR`, `zh-Hant-TW`, `es-419`). Not a registry lookup; the 5-8 letter primary
/// subtags BCP 47 reserves are never assigned, so `english` is caught as a likely mistake.
fn plausible_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang = parts.next().unwrap_or_default();
    let lang_ok = matches!(lang.len(), 2 | 3) && lang.chars().all(|c| c.is_ascii_alphabetic());
    lang_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Whether `rel`, a path from site.toml, names something inside the site folder: relative, never
/// climbing above the root, and, when it exists, not leading out through a symlink.
fn stays_inside(root: &Path, rel: &Path) -> bool {
    let mut depth = 0usize;
    for part in rel.components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    match (root.canonicalize(), root.join(rel).canonicalize()) {
        (Ok(root), Ok(full)) => full.starts_with(root),
        // A missing file is reported by the existence check.
        _ => true,
    }
}

/// `host` or `host:port` when the port is not the scheme's default.
pub fn host_with_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Handles are lowercase ASCII letters, digits and `_`, 1 to 30 characters (Mastodon's rule).
pub fn valid_handle(handle: &str) -> bool {
    !handle.is_empty()
        && handle.len() <= 30
        && handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use tempfile::TempDir;

    /// The smallest valid site.toml; tests append to it or replace parts of it.
    const GOOD: &str = r#"[site]
base_url = "https://social.city.example"

[[actor]]
handle = "news"
"#;

    /// A site folder holding `content/news`, the default content folder of the `news` actor.
    fn site_dir() -> TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("content/news")).unwrap();
        dir
    }

    fn parse_in(dir: &TempDir, text: &str) -> Result<Loaded, ConfigError> {
        Site::parse(&dir.path().join("site.toml"), text)
    }

    /// Every error for `text` in `dir`, as a person reads it (`site.toml:3: ...`).
    fn errors_in(dir: &TempDir, text: &str) -> Vec<String> {
        match parse_in(dir, text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e
                .problems
                .into_iter()
                .map(|d| d.relative_to(dir.path()).to_string())
                .collect(),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        errors_in(&site_dir(), text)
    }

    /// Every warning for `text` in `dir`, which must load.
    fn warnings_in(dir: &TempDir, text: &str) -> Vec<String> {
        match parse_in(dir, text) {
            Ok(loaded) => loaded
                .warnings
                .into_iter()
                .map(|d| d.relative_to(dir.path()).to_string())
                .collect(),
            Err(e) => panic!("expected {text} to load, got {:#?}", e.problems),
        }
    }

    fn warnings(text: &str) -> Vec<String> {
        warnings_in(&site_dir(), text)
    }

    /// Errors when no files are needed: parsed as a bare `site.toml`.
    fn bare_errors(text: &str) -> Vec<String> {
        match Site::parse(Path::new("site.toml"), text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn can_load_a_minimal_site_with_defaults() {
        let dir = site_dir();
        let loaded = parse_in(&dir, GOOD).unwrap();
        assert!(loaded.warnings.is_empty());
        let site = loaded.site;
        assert_eq!(site.base_url.as_str(), "https://social.city.example/");
        assert_eq!(site.domain, "social.city.example");
        assert_eq!(site.listen, DEFAULT_LISTEN);
        assert_eq!(site.language, "en");
        assert_eq!(site.root, dir.path());
        assert_eq!(site.data_dir, dir.path().join(".masthead"));
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
data_dir = "state"
html_base_url = "https://www.city.example"
language = "fr"

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
        assert_eq!(site.data_dir, dir.path().join("state"));
        assert_eq!(
            site.html_base_url.as_ref().map(Url::as_str),
            Some("https://www.city.example/")
        );
        assert_eq!(site.dev, Dev::default());
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
    fn can_default_the_domain_to_host_and_port() {
        let text = GOOD.replace("social.city.example", "social.city.example:8443");
        let site = parse_in(&site_dir(), &text).unwrap().site;
        assert_eq!(site.domain, "social.city.example:8443");
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
    fn rejects_unknown_keys_everywhere_naming_the_nearest_key() {
        let text = r#"[site]
base_ur = "https://social.city.example"
base_url = "https://social.city.example"
langauge = "en"

[[actor]]
handel = "x"
handle = "news"
fields = [{ name = "Web", vaule = "x", value = "y" }]

[dev]
allow_htp = true

[sites]
"#;
        assert_eq!(
            errors(text),
            [
                "site.toml:2: unknown key `base_ur` in [site] (did you mean `base_url`?)",
                "site.toml:4: unknown key `langauge` in [site] (did you mean `language`?)",
                "site.toml:7: unknown key `handel` in [[actor]] (did you mean `handle`?)",
                "site.toml:9: unknown key `vaule` in [[actor.fields]] (did you mean `value`?)",
                "site.toml:12: unknown key `allow_htp` in [dev] (did you mean `allow_http`?)",
                "site.toml:14: unknown key `sites` at the top level (did you mean `site`?)",
            ]
        );
    }

    #[test]
    fn rejects_an_unknown_key_near_no_valid_one_listing_the_valid_keys() {
        let text = format!("{GOOD}\n[dev]\ncolour = \"red\"\nurl = 1\n");
        assert_eq!(
            errors(&text),
            [
                "site.toml:8: unknown key `colour` in [dev] (valid keys: allow_http, allow_private_addresses)",
                "site.toml:9: unknown key `url` in [dev] (valid keys: allow_http, allow_private_addresses)",
            ]
        );
        let text = GOOD.replace("[[actor]]", "[[actor]]\nurl = \"x\"");
        assert_eq!(
            errors(&text)[0],
            "site.toml:5: unknown key `url` in [[actor]] (valid keys: handle, name, type, summary, avatar, header, fields, content, object_type, manually_approves_followers, discoverable, indexable, also_known_as, language)"
        );
    }

    #[test]
    fn can_suggest_a_key_that_contains_the_unknown_one() {
        assert_eq!(nearest("url", SITE_KEYS), Some("base_url"));
        assert_eq!(nearest("known_as", ACTOR_KEYS), Some("also_known_as"));
        assert_eq!(nearest("handel", ACTOR_KEYS), Some("handle"));
        assert_eq!(nearest("zzzzzz", ACTOR_KEYS), None);
    }

    #[test]
    fn rejects_wrongly_typed_values_and_still_checks_the_rest() {
        let text = r#"[site]
base_url = "https://social.city.example"
listen = 8080

[[actor]]
handle = "news"
type = "Org"
discoverable = "yes"
also_known_as = ["http://old.example/users/news"]

[[actor]]
handle = 5
"#;
        assert_eq!(
            errors(text),
            [
                "site.toml:3: site.listen must be a string, got integer `8080` (write it in double quotes)",
                "site.toml:7: actor \"news\": type must be one of `Organization`, `Service`, `Application`, `Group`, `Person`, got `Org`",
                "site.toml:8: actor \"news\": discoverable must be a boolean, got string \"yes\" (write true or false)",
                "site.toml:9: actor \"news\": also_known_as entries must be https URLs, got \"http://old.example/users/news\" (give the old account's actor URL, like https://old.example/users/news)",
                "site.toml:12: actor #2: handle must be a string, got integer `5` (write it in double quotes)",
            ]
        );
    }

    #[test]
    fn errors_when_the_site_table_or_base_url_is_missing() {
        let text = "[[actor]]\nhandle = \"news\"\n";
        assert_eq!(
            errors(text),
            ["site.toml: no [site] table (add [site] with base_url = \"https://social.example.org\")"]
        );
        let text = GOOD.replace(
            "base_url = \"https://social.city.example\"",
            "name = \"City\"",
        );
        assert_eq!(
            errors(&text),
            ["site.toml: [site] has no base_url (add base_url = \"https://social.example.org\", the address people reach this server at)"]
        );
    }

    #[test]
    fn errors_when_actor_is_a_single_table() {
        let text = GOOD.replace("[[actor]]", "[actor]");
        assert_eq!(
            errors(&text),
            ["site.toml:4: `actor` must be a list of tables, got a single [actor] table (write [[actor]], with double brackets)"]
        );
    }

    #[test]
    fn errors_when_a_section_is_not_a_table() {
        let text = format!("dev = 1\nactor = [\"news\"]\n{GOOD}");
        let text = text.replace("[[actor]]\nhandle = \"news\"\n", "");
        assert_eq!(
            errors(&text),
            [
                "site.toml:1: `dev` must be a table, got an integer (write it as a [dev] section)",
                "site.toml:2: actor #1: must be a table, got a string (write each actor as an [[actor]] section)",
            ]
        );
        assert_eq!(
            errors("site = \"x\"\nactor = 3\n"),
            [
                "site.toml:1: `site` must be a table, got a string (write it as a [site] section)",
                "site.toml:2: `actor` must be a list of tables, got an integer (write each actor as an [[actor]] section)",
            ]
        );
    }

    #[test]
    fn rejects_a_base_url_that_is_not_a_url() {
        let text = GOOD.replace("https://social.city.example", "social.city.example");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.base_url must be an absolute URL, got \"social.city.example\" (write it like https://social.example.org)"]
        );
    }

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

    #[test]
    fn rejects_an_http_base_url_unless_dev_allows_it() {
        let text = GOOD.replace("https://", "http://");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.base_url must use https, got \"http://social.city.example\" (use https, or set allow_http = true under [dev] for local testing)"]
        );
        let text = format!("{text}\n[dev]\nallow_http = true\n");
        assert_eq!(
            warnings(&text),
            ["site.toml:8: [dev] allow_http = true: an http base_url is accepted, and other servers will not federate with it (remove it in production)"]
        );
    }

    #[test]
    fn rejects_a_base_url_with_another_scheme() {
        let text = GOOD.replace("https://", "ftp://");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.base_url must be an https URL, got \"ftp://social.city.example\" (write it like https://social.example.org)"]
        );
    }

    #[test]
    fn rejects_a_base_url_with_a_query_or_fragment() {
        let text = GOOD.replace("city.example\"", "city.example/?lang=en#top\"");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.base_url must not have a query or fragment, got \"https://social.city.example/?lang=en#top\" (remove everything from the ? or #)"]
        );
    }

    #[test]
    fn rejects_a_domain_that_is_not_a_host() {
        let text = GOOD.replace("[site]", "[site]\ndomain = \"https://city.example/\"");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.domain must be a host name, optionally with a port, got \"https://city.example/\" (write only the host, like city.example)"]
        );
        let text = GOOD.replace("[site]", "[site]\ndomain = \"City.example:8443\"");
        assert_eq!(
            parse_in(&site_dir(), &text).unwrap().site.domain,
            "city.example:8443"
        );
    }

    #[test]
    fn rejects_a_listen_address_that_is_not_a_socket_address() {
        let text = GOOD.replace("[site]", "[site]\nlisten = \"localhost:8080\"");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.listen must be an IP address and port, got \"localhost:8080\" (write e.g. 127.0.0.1:8080 for this machine only, or 0.0.0.0:8080 for every interface)"]
        );
    }

    #[test]
    fn rejects_an_html_base_url_that_is_not_http() {
        let text = GOOD.replace("[site]", "[site]\nhtml_base_url = \"www.city.example\"");
        assert_eq!(
            errors(&text),
            ["site.toml:2: site.html_base_url must be an http(s) URL, got \"www.city.example\" (write it like https://city.example)"]
        );
    }

    #[test]
    fn rejects_an_implausible_language_tag() {
        let text = GOOD
            .replace("[site]", "[site]\nlanguage = \"english\"")
            .replace("[[actor]]", "[[actor]]\nlanguage = \"pt_BR\"");
        assert_eq!(
            errors(&text),
            [
                "site.toml:2: site.language must be a language tag, got \"english\" (use a BCP 47 tag like en, fr or pt-BR)",
                "site.toml:6: actor \"news\": language must be a language tag, got \"pt_BR\" (write \"pt-BR\", with - instead of _)",
            ]
        );
    }

    #[test]
    fn can_accept_common_language_tags() {
        for tag in ["en", "fr", "pt-BR", "zh-Hant-TW", "es-419", "gsw"] {
            assert!(plausible_language_tag(tag), "{tag}");
        }
        for tag in ["", "e", "english", "en-", "en_GB", "12", "en-toolongsubtag"] {
            assert!(!plausible_language_tag(tag), "{tag}");
        }
    }

    #[test]
    fn errors_when_no_actor_is_defined() {
        assert_eq!(
            errors("[site]\nbase_url = \"https://social.city.example\"\n"),
            ["site.toml: no [[actor]] defined (add one: an [[actor]] section with handle = \"news\")"]
        );
    }

    #[test]
    fn rejects_a_handle_with_a_space() {
        let text = GOOD.replace("\"news\"", "\"news desk\"");
        assert_eq!(
            bare_errors(&text),
            ["site.toml:5: actor \"news desk\": handle may only contain a-z, 0-9 and _ (got a space)"]
        );
    }

    #[test]
    fn rejects_a_handle_with_an_uppercase_letter() {
        let text = GOOD.replace("\"news\"", "\"News Desk\"");
        assert_eq!(
            bare_errors(&text),
            ["site.toml:5: actor \"News Desk\": handle may only contain a-z, 0-9 and _ (got an uppercase letter 'N')"]
        );
    }

    #[test]
    fn rejects_a_handle_with_a_dash() {
        let text = GOOD.replace("\"news\"", "\"city-news\"");
        assert_eq!(
            bare_errors(&text),
            ["site.toml:5: actor \"city-news\": handle may only contain a-z, 0-9 and _ (got '-')"]
        );
    }

    #[test]
    fn rejects_an_empty_handle() {
        let text = GOOD.replace("\"news\"", "\"\"");
        assert_eq!(
            bare_errors(&text),
            ["site.toml:5: actor #1: handle must not be empty (write the name in @name@your.domain, e.g. \"news\")"]
        );
    }

    #[test]
    fn errors_when_an_actor_has_no_handle() {
        let text = GOOD.replace("handle = \"news\"", "name = \"News\"");
        assert_eq!(
            bare_errors(&text),
            ["site.toml:4: actor #1: has no handle (add handle = \"news\", the name in @news@your.domain)"]
        );
    }

    #[test]
    fn rejects_a_handle_longer_than_30_characters() {
        let handle = "a".repeat(31);
        let text = GOOD.replace("\"news\"", &format!("\"{handle}\""));
        assert_eq!(
            bare_errors(&text),
            [format!("site.toml:5: actor \"{handle}\": handle must be at most 30 characters, got 31 (shorten it)")]
        );
    }

    #[test]
    fn rejects_a_reserved_handle() {
        let dir = site_dir();
        fs::create_dir_all(dir.path().join("content/inbox")).unwrap();
        let text = GOOD.replace("\"news\"", "\"inbox\"");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:5: actor \"inbox\": handle \"inbox\" is reserved for masthead's own routes (actor, inbox, users, tags, media, nodeinfo) (choose another handle)"]
        );
    }

    #[test]
    fn rejects_a_handle_used_twice() {
        let text = format!("{GOOD}\n[[actor]]\nhandle = \"news\"\n");
        assert_eq!(
            errors(&text),
            ["site.toml:8: actor \"news\": handle \"news\" is already used by the actor on line 5 (give each actor its own handle)"]
        );
    }

    #[test]
    fn rejects_a_name_longer_than_100_characters() {
        let text = format!("{GOOD}name = \"{}\"\n", "é".repeat(101));
        assert_eq!(
            errors(&text),
            ["site.toml:6: actor \"news\": name must be at most 100 characters, got 101 (shorten it)"]
        );
    }

    #[test]
    fn rejects_a_summary_longer_than_5000_characters() {
        let text = format!("{GOOD}summary = \"{}\"\n", "a".repeat(5001));
        assert_eq!(
            errors(&text),
            ["site.toml:6: actor \"news\": summary must be at most 5000 characters, got 5001 (shorten it)"]
        );
    }

    #[test]
    fn warns_when_a_summary_is_longer_than_500_characters() {
        let text = format!("{GOOD}summary = \"{}\"\n", "a".repeat(501));
        assert_eq!(
            warnings(&text),
            ["site.toml:6: actor \"news\": summary is 501 characters, more than the 500 Mastodon allows its own users, and some apps cut it short (shorten it to keep it whole)"]
        );
        let text = format!("{GOOD}summary = \"{}\"\n", "a".repeat(500));
        assert!(warnings(&text).is_empty());
    }

    #[test]
    fn rejects_an_avatar_outside_the_site_folder() {
        let text = format!("{GOOD}avatar = \"../logo.png\"\nheader = \"/etc/header.png\"\n");
        assert_eq!(
            errors(&text),
            [
                "site.toml:6: actor \"news\": avatar must be inside the site folder, got \"../logo.png\" (copy the image into the site folder and give its path from there)",
                "site.toml:7: actor \"news\": header must be inside the site folder, got \"/etc/header.png\" (copy the image into the site folder and give its path from there)",
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn rejects_an_avatar_that_leaves_through_a_symlink() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("logo.png"), b"png").unwrap();
        let dir = site_dir();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("img")).unwrap();
        let text = format!("{GOOD}avatar = \"img/logo.png\"\n");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:6: actor \"news\": avatar must be inside the site folder, got \"img/logo.png\" (copy the image into the site folder and give its path from there)"]
        );
    }

    #[test]
    fn rejects_an_avatar_that_is_not_an_image_type() {
        let dir = site_dir();
        fs::write(dir.path().join("logo.svg"), b"<svg/>").unwrap();
        let text = format!("{GOOD}avatar = \"logo.svg\"\n");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:6: actor \"news\": avatar must be a .png, .jpg, .jpeg, .gif or .webp image, got \"logo.svg\" (convert it to PNG)"]
        );
    }

    #[test]
    fn rejects_a_header_that_does_not_exist() {
        let dir = site_dir();
        fs::write(dir.path().join("avatar.JPG"), b"jpeg").unwrap();
        let text = format!("{GOOD}avatar = \"avatar.JPG\"\nheader = \"header.gif\"\n");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:7: actor \"news\": header \"header.gif\" does not exist (add the image to the site folder or fix the path)"]
        );
    }

    #[test]
    fn rejects_more_than_50_fields() {
        let fields = vec!["{ name = \"a\", value = \"b\" }"; 51].join(", ");
        let text = format!("{GOOD}fields = [{fields}]\n");
        assert_eq!(
            errors(&text),
            ["site.toml:6: actor \"news\": fields may hold at most 50 entries, got 51 (remove some)"]
        );
    }

    #[test]
    fn warns_about_more_than_4_fields() {
        let fields = ["{ name = \"a\", value = \"b\" }"; 5].join(", ");
        let text = format!("{GOOD}fields = [{fields}]\n");
        assert_eq!(
            warnings(&text),
            ["site.toml:6: actor \"news\": 5 fields, but Mastodon shows only the first 4 (put the important ones first)"]
        );
    }

    #[test]
    fn rejects_a_field_with_an_empty_name_or_value() {
        let text = format!(
            "{GOOD}\n[[actor.fields]]\nname = \" \"\nvalue = \"x\"\n\n[[actor.fields]]\nname = \"Web\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "site.toml:7: actor \"news\": field 1 has an empty name (fill it in or remove the field)",
                "site.toml:11: actor \"news\": field 2 has an empty value (fill it in or remove the field)",
            ]
        );
    }

    #[test]
    fn errors_when_the_content_folder_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            errors_in(&dir, GOOD),
            ["site.toml:4: actor \"news\": content folder \"content/news\" does not exist (create it in the site folder: mkdir -p content/news)"]
        );
        let text = format!("{GOOD}content = \"my posts\"\n");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:6: actor \"news\": content folder \"my posts\" does not exist (create it in the site folder: mkdir -p 'my posts')"]
        );
    }

    #[test]
    fn rejects_a_content_folder_outside_the_site_folder() {
        let text = format!("{GOOD}content = \"content/../../posts\"\n");
        assert_eq!(
            errors(&text),
            ["site.toml:6: actor \"news\": content must be a folder inside the site folder, got \"content/../../posts\" (move the posts into the site folder)"]
        );
    }

    #[test]
    fn rejects_a_content_path_that_is_a_file() {
        let dir = site_dir();
        fs::write(dir.path().join("posts.md"), "# hi").unwrap();
        let text = format!("{GOOD}content = \"posts.md\"\n");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:6: actor \"news\": content \"posts.md\" is a file, not a folder (point content at a folder of Markdown files)"]
        );
    }

    #[test]
    fn rejects_also_known_as_that_is_not_https() {
        let text =
            format!("{GOOD}also_known_as = [\"https://ok.example/users/a\", \"old.example\"]\n");
        assert_eq!(
            errors(&text),
            ["site.toml:6: actor \"news\": also_known_as entries must be https URLs, got \"old.example\" (give the old account's actor URL, like https://old.example/users/news)"]
        );
    }

    #[test]
    fn warns_when_private_addresses_are_allowed() {
        let text = format!("{GOOD}\n[dev]\nallow_private_addresses = true\n");
        assert_eq!(
            warnings(&text),
            ["site.toml:8: [dev] allow_private_addresses = true: outgoing requests may reach loopback and private addresses (remove it in production)"]
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
    fn can_describe_a_bad_character() {
        assert_eq!(describe_char(' '), "a space");
        assert_eq!(describe_char('N'), "an uppercase letter 'N'");
        assert_eq!(describe_char('-'), "'-'");
        assert_eq!(describe_char('\t'), "a tab");
        assert_eq!(describe_char('é'), "'é'");
    }
}

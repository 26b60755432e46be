//! `site.toml`: strict serde structs, then one validation pass that reports every problem at once.
//!
//! This module owns reading and checking the site's configuration and turning it into a [`Site`]
//! the rest of the server can trust (absolute base URL, known handles, paths resolved against the
//! folder that holds site.toml). It does not read content files or touch the network.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::diagnostics::Diagnostic;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    site: RawSite,
    #[serde(default, rename = "actor")]
    actors: Vec<RawActor>,
    #[serde(default)]
    dev: Dev,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    base_url: String,
    domain: Option<String>,
    name: Option<String>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    html_base_url: Option<String>,
    language: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    handle: String,
    name: Option<String>,
    #[serde(rename = "type", default)]
    kind: ActorKind,
    #[serde(default)]
    summary: String,
    avatar: Option<PathBuf>,
    header: Option<PathBuf>,
    #[serde(default)]
    fields: Vec<Field>,
    content: Option<PathBuf>,
    #[serde(default)]
    object_type: ObjectTypePolicy,
    #[serde(default)]
    manually_approves_followers: bool,
    discoverable: Option<bool>,
    indexable: Option<bool>,
    #[serde(default)]
    also_known_as: Vec<String>,
    language: Option<String>,
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

    /// Validates `text` as the contents of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
        let fail = |problems| ConfigError {
            path: path.to_path_buf(),
            problems,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| crate::diagnostics::line_of(text, s.start));
            fail(vec![Diagnostic::error(
                path,
                line,
                e.message().trim().to_string(),
            )])
        })?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = if root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root
        };
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let mut err = |msg: String| problems.push(Diagnostic::error(path, None, msg));

        let base_url = match Url::parse(raw.site.base_url.trim_end_matches('/')) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && raw.dev.allow_http) => {
                Some(u)
            }
            Ok(u) if u.scheme() == "http" => {
                err(format!(
                    "site.base_url: must be https, got {u} (use https, or set [dev] allow_http = true for local testing)"
                ));
                None
            }
            Ok(u) => {
                err(format!("site.base_url: must be an https URL, got {u}"));
                None
            }
            Err(e) => {
                err(format!(
                    "site.base_url: {e}, got {:?} (write it like https://social.example.org)",
                    raw.site.base_url
                ));
                None
            }
        };
        let domain = raw
            .site
            .domain
            .clone()
            .or_else(|| base_url.as_ref().map(host_with_port));

        let mut actors = Vec::new();
        for a in raw.actors {
            if !valid_handle(&a.handle) {
                err(format!(
                    "actor \"{}\": handle may only contain a-z, 0-9 and _ (got {:?})",
                    a.handle, a.handle
                ));
            }
            let content = a
                .content
                .unwrap_or_else(|| PathBuf::from("content").join(&a.handle));
            actors.push(Actor {
                name: a.name.unwrap_or_else(|| a.handle.clone()),
                handle: a.handle,
                kind: a.kind,
                summary: a.summary,
                avatar: a.avatar,
                header: a.header,
                fields: a.fields,
                content,
                object_type: a.object_type,
                manually_approves_followers: a.manually_approves_followers,
                discoverable: a.discoverable.unwrap_or(true),
                indexable: a.indexable.unwrap_or(true),
                also_known_as: a
                    .also_known_as
                    .iter()
                    .filter_map(|u| Url::parse(u).ok())
                    .collect(),
                language: a.language,
            });
        }
        if actors.is_empty() {
            err(
                "no [[actor]] defined (add one with a handle, e.g. [[actor]] handle = \"news\")"
                    .into(),
            );
        }
        if raw.dev.allow_private_addresses {
            warnings.push(Diagnostic::warning(
                path,
                None,
                "[dev] allow_private_addresses is on: outgoing requests may reach loopback and private addresses (turn it off in production)",
            ));
        }
        let html_base_url = raw
            .site
            .html_base_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok());
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        let (Some(base_url), Some(domain)) = (base_url, domain) else {
            return Err(fail(problems));
        };
        let data_dir = root.join(
            raw.site
                .data_dir
                .unwrap_or_else(|| PathBuf::from(".masthead")),
        );
        let site = Site {
            config_path: path.to_path_buf(),
            base_url,
            domain,
            name: raw.site.name,
            listen: raw
                .site
                .listen
                .unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            data_dir,
            html_base_url,
            language: raw.site.language.unwrap_or_else(|| "en".to_string()),
            actors,
            dev: raw.dev,
            root,
        };
        Ok(Loaded { site, warnings })
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

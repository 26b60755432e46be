//! `[site]`: where the server is reached (`base_url`, `domain`), where it listens and keeps its
//! data, the default language of posts, what is published (`publish`: the working tree, or what
//! is committed on a git branch), how long `serve` lets a burst of file changes settle before
//! it publishes them (`watch_debounce_ms`), and how live publishing treats time and removals
//! (the time zone of dates without one, the push window, the grace period of a removal and the
//! size of a mass removal). This file owns those keys and their rules; the
//! [`Site`](super::Site) they end up in is assembled by the validation pass.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::validate::Checker;

/// Default listen address when site.toml names none.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How long the watcher waits for a burst of file events to go quiet before it publishes them:
/// long enough for an editor's save (write a temp file, rename it over the post, touch a backup)
/// and a `git checkout` to land as one batch, short enough that a save is out well within a
/// second.
pub const DEFAULT_WATCH_DEBOUNCE: Duration = Duration::from_millis(200);

/// The longest `watch_debounce_ms` accepted: past this a save no longer feels live.
const MAX_WATCH_DEBOUNCE_MS: u64 = 10_000;
/// How long a removed post stays served before its Delete goes out, unless site.toml says
/// otherwise: long enough for an editor's save-by-rename or a quick `git stash pop`.
pub const DEFAULT_DELETE_GRACE_SECS: u64 = 60;

/// More removals than this at once are held for `masthead publish --confirm`.
pub const DEFAULT_MASS_DELETE_THRESHOLD: usize = 5;

/// A new post published longer ago than this is not pushed to followers: Mastodon's
/// `REAL_TIME_WINDOW` keeps older posts out of home timelines anyway, so pushing an archive
/// would only flood inboxes.
pub const DEFAULT_PUSH_WINDOW_HOURS: u64 = 6;

/// The keys `[site]` accepts.
pub(super) const SITE_KEYS: &[&str] = &[
    "base_url",
    "domain",
    "name",
    "listen",
    "data_dir",
    "html_base_url",
    "language",
    "metrics_listen",
    "watch_debounce_ms",
    "publish",
    "publish_branch",
    "publish_repo",
    "timezone",
    "push_window_hours",
    "delete_grace_secs",
    "mass_delete_threshold",
];

/// What `serve` publishes (`[site] publish`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Publish {
    /// `"save"`: the working tree, as saved.
    #[default]
    Save,
    /// `"commit"`: what is committed on a branch of the git repository holding the site.
    Commit(PublishCommit),
}

/// Where `publish = "commit"` reads from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishCommit {
    /// `publish_branch`: the branch (short name, e.g. `main`); the one checked out when `serve`
    /// starts when absent.
    pub branch: Option<String>,
    /// `publish_repo`: a repository to read instead of the one holding the site folder (a bare
    /// repository that is pushed to), resolved against the site folder.
    pub repo: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSite {
    base_url: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    pub(super) name: Option<String>,
    pub(super) listen: Option<Spanned<String>>,
    pub(super) data_dir: Option<PathBuf>,
    html_base_url: Option<Spanned<String>>,
    pub(super) language: Option<Spanned<String>>,
    pub(super) metrics_listen: Option<Spanned<String>>,
    watch_debounce_ms: Option<Spanned<u64>>,
    publish: Option<Spanned<String>>,
    publish_branch: Option<Spanned<String>>,
    publish_repo: Option<Spanned<PathBuf>>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) push_window_hours: Option<u64>,
    pub(super) delete_grace_secs: Option<u64>,
    pub(super) mass_delete_threshold: Option<usize>,
}

impl Checker<'_> {
    /// `site.watch_debounce_ms`, or the default.
    pub(super) fn watch_debounce(&mut self, raw: &RawSite) -> Duration {
        match &raw.watch_debounce_ms {
            Some(ms) if *ms.get_ref() > MAX_WATCH_DEBOUNCE_MS => {
                self.error(
                    ms.span(),
                    format!(
                        "site.watch_debounce_ms must be at most {MAX_WATCH_DEBOUNCE_MS}, got {} (the default, 200, lets an editor's save settle; raise it only for slow network folders)",
                        ms.get_ref()
                    ),
                );
                DEFAULT_WATCH_DEBOUNCE
            }
            Some(ms) => Duration::from_millis(*ms.get_ref()),
            None => DEFAULT_WATCH_DEBOUNCE,
        }
    }

    /// Checks `[site]`; returns the base URL, domain and html_base_url when they are usable.
    pub(super) fn site_values(
        &mut self,
        raw: &RawSite,
        allow_http: bool,
    ) -> (Option<Url>, Option<String>, Option<Url>) {
        let base_url = self.base_url(raw.base_url.as_ref(), allow_http);
        let domain = match &raw.domain {
            Some(d) => self.domain(d),
            None => base_url.as_ref().map(host_with_port),
        };
        self.socket_addr(
            raw.listen.as_ref(),
            "listen",
            "write e.g. 127.0.0.1:8080 for this machine only, or 0.0.0.0:8080 for every interface",
        );
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
        self.socket_addr(
            raw.metrics_listen.as_ref(),
            "metrics_listen",
            "write e.g. 127.0.0.1:9464, and keep it off public interfaces: /metrics has no authentication",
        );
        if let Some(language) = &raw.language {
            self.language("site.language", language);
        }

        (base_url, domain, html_base_url)
    }

    /// `site.<key>`, when set, must be an IP address and port; `hint` says what to write.
    fn socket_addr(&mut self, value: Option<&Spanned<String>>, key: &str, hint: &str) {
        let Some(value) = value else {
            return;
        };
        if value.get_ref().parse::<SocketAddr>().is_err() {
            self.error(
                value.span(),
                format!(
                    "site.{key} must be an IP address and port, got {:?} ({hint})",
                    value.get_ref()
                ),
            );
        }
    }

    /// `site.publish`, `site.publish_branch` and `site.publish_repo`.
    pub(super) fn publish(&mut self, raw: &RawSite) -> Publish {
        let commit = match &raw.publish {
            None => false,
            Some(p) => match p.get_ref().as_str() {
                "save" => false,
                "commit" => true,
                other => {
                    self.error(
                        p.span(),
                        format!(
                            "site.publish must be \"save\" or \"commit\", got {other:?} (\"save\" publishes files as they are saved, \"commit\" only what is committed to git)"
                        ),
                    );
                    false
                }
            },
        };
        if let Some(branch) = &raw.publish_branch {
            if !plausible_branch(branch.get_ref()) {
                self.error(
                    branch.span(),
                    format!(
                        "site.publish_branch must be a git branch name, got {:?} (write the short name, like main)",
                        branch.get_ref()
                    ),
                );
            }
        }
        if let Some(repo) = &raw.publish_repo {
            let full = self.root.join(repo.get_ref());
            if !full.is_dir() {
                self.error(
                    repo.span(),
                    format!(
                        "site.publish_repo \"{}\" is not a folder (give the path of the git repository to publish from, e.g. /srv/git/site.git)",
                        repo.get_ref().display()
                    ),
                );
            }
        }
        if !commit {
            for (key, span) in [
                (
                    "publish_branch",
                    raw.publish_branch.as_ref().map(Spanned::span),
                ),
                ("publish_repo", raw.publish_repo.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    self.warning(
                        span,
                        format!("site.{key} is used only with publish = \"commit\"; the working tree is published as saved (add publish = \"commit\" under [site], or remove {key})"),
                    );
                }
            }
            return Publish::Save;
        }
        Publish::Commit(PublishCommit {
            branch: raw
                .publish_branch
                .as_ref()
                .map(|b| b.get_ref().trim_start_matches("refs/heads/").to_string()),
            repo: raw
                .publish_repo
                .as_ref()
                .map(|r| self.root.join(r.get_ref())),
        })
    }

    /// `site.timezone`: an IANA name; UTC when absent, `None` when unusable (reported).
    pub(super) fn timezone(&mut self, raw: Option<&Spanned<String>>) -> Option<chrono_tz::Tz> {
        let Some(raw) = raw else {
            return Some(chrono_tz::Tz::UTC);
        };
        let value = raw.get_ref();
        if let Ok(tz) = value.parse::<chrono_tz::Tz>() {
            return Some(tz);
        }
        let near = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(value));
        let hint = match near {
            Some(tz) => format!("write {:?}", tz.name()),
            None => "use an IANA name like Europe/Paris, America/New_York or UTC".to_string(),
        };
        self.error(
            raw.span(),
            format!("site.timezone must be a time zone name, got {value:?} ({hint})"),
        );
        None
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
    pub(super) fn language(&mut self, key: &str, raw: &Spanned<String>) {
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
}

/// A host name or IP literal, optionally with `:port`, and nothing else.
pub(super) fn valid_domain(value: &str) -> bool {
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

/// A name git accepts for a branch (`git check-ref-format --branch`), in its common subset:
/// no space or control character, none of `~^:?*[\\`, no `..`, `@{`, `//`, no part starting
/// with `.` or ending in `.lock`, not starting or ending with `/`, not starting with `-`.
fn plausible_branch(name: &str) -> bool {
    let name = name.strip_prefix("refs/heads/").unwrap_or(name);
    !name.is_empty()
        && !name.starts_with(['-', '/'])
        && !name.ends_with(['/', '.'])
        && !name.contains("..")
        && !name.contains("@{")
        && !name.contains("//")
        && name != "@"
        && !name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
        && name
            .split('/')
            .all(|part| !part.starts_with('.') && !part.ends_with(".lock"))
}

/// `host` or `host:port` when the port is not the scheme's default.
pub fn host_with_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn rejects_each_bad_site_value() {
        // (text in GOOD, replaced by, the one error it gives)
        let cases = [
            (
                "https://social.city.example",
                "social.city.example",
                "site.toml:2: site.base_url must be an absolute URL, got \"social.city.example\" (write it like https://social.example.org)",
            ),
            (
                "https://",
                "http://",
                "site.toml:2: site.base_url must use https, got \"http://social.city.example\" (use https, or set allow_http = true under [dev] for local testing)",
            ),
            (
                "https://",
                "ftp://",
                "site.toml:2: site.base_url must be an https URL, got \"ftp://social.city.example\" (write it like https://social.example.org)",
            ),
            (
                "city.example\"",
                "city.example/?lang=en#top\"",
                "site.toml:2: site.base_url must not have a query or fragment, got \"https://social.city.example/?lang=en#top\" (remove everything from the ? or #)",
            ),
            (
                "[site]",
                "[site]\ndomain = \"https://city.example/\"",
                "site.toml:2: site.domain must be a host name, optionally with a port, got \"https://city.example/\" (write only the host, like city.example)",
            ),
            (
                "[site]",
                "[site]\nlisten = \"localhost:8080\"",
                "site.toml:2: site.listen must be an IP address and port, got \"localhost:8080\" (write e.g. 127.0.0.1:8080 for this machine only, or 0.0.0.0:8080 for every interface)",
            ),
            (
                "[site]",
                "[site]\nmetrics_listen = \"localhost:9464\"",
                "site.toml:2: site.metrics_listen must be an IP address and port, got \"localhost:9464\" (write e.g. 127.0.0.1:9464, and keep it off public interfaces: /metrics has no authentication)",
            ),
            (
                "[site]",
                "[site]\nwatch_debounce_ms = 60000",
                "site.toml:2: site.watch_debounce_ms must be at most 10000, got 60000 (the default, 200, lets an editor's save settle; raise it only for slow network folders)",
            ),
            (
                "[site]",
                "[site]\nwatch_debounce_ms = -1",
                "site.toml:2: site.watch_debounce_ms: invalid value: integer `-1`, expected u64",
            ),
            (
                "[site]",
                "[site]\nhtml_base_url = \"www.city.example\"",
                "site.toml:2: site.html_base_url must be an http(s) URL, got \"www.city.example\" (write it like https://city.example)",
            ),
        ];
        for (from, to, want) in cases {
            assert_eq!(errors(&GOOD.replace(from, to)), [want], "{to}");
        }
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
    fn can_default_the_domain_to_host_and_port() {
        let text = GOOD.replace("social.city.example", "social.city.example:8443");
        let site = parse_in(&site_dir(), &text).unwrap().site;
        assert_eq!(site.domain, "social.city.example:8443");
    }

    #[test]
    fn can_lowercase_the_domain() {
        let text = GOOD.replace("[site]", "[site]\ndomain = \"City.example:8443\"");
        assert_eq!(
            parse_in(&site_dir(), &text).unwrap().site.domain,
            "city.example:8443"
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
}

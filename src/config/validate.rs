//! The pass that reads site.toml's tree and collects every problem at once.
//!
//! This file owns the reading machinery: unknown keys reported with the nearest valid one and
//! removed, each table deserialized on its own with a wrongly typed value reported and dropped,
//! the line of every problem, and the assembly of the [`Site`] once nothing is wrong. The rules
//! on the values live with their table (`site`, `actor`, `dev`, `moderation`, `limits`), each adding its
//! own methods to [`Checker`]. Each table's list of keys mirrors its `Raw*` struct, whose
//! `deny_unknown_fields` is the backstop (`can_read_every_key` keeps the two in step); listing
//! them lets every unknown key be reported at once.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::actor::ActorEntry;
use super::dev::{RawDev, DEV_KEYS};
use super::limits::{Limits, RawLimits, LIMITS_KEYS};
use super::moderation::{Moderation, RawModeration, MODERATION_KEYS};
use super::site::{
    RawSite, DEFAULT_DELETE_GRACE_SECS, DEFAULT_LISTEN, DEFAULT_MASS_DELETE_THRESHOLD,
    DEFAULT_PUSH_WINDOW_HOURS, SITE_KEYS,
};
use super::Site;
use crate::diagnostics::{line_of, Diagnostic, Severity};

/// The tables site.toml may hold.
const TOP_KEYS: &[&str] = &["site", "actor", "dev", "moderation", "limits", "plugin"];

/// Checks the parsed `top` of site.toml at `path` (files it names are looked up in `root`).
/// Returns the site when every value was usable, the errors and the warnings, each sorted by
/// line.
pub(super) fn check(
    path: &Path,
    text: &str,
    root: &Path,
    top: DeTable<'_>,
) -> (Option<Site>, Vec<Diagnostic>, Vec<Diagnostic>) {
    let mut checker = Checker {
        path,
        text,
        root,
        problems: Vec::new(),
        mistyped: Vec::new(),
    };
    let site = checker.check(top);
    let (mut errors, mut warnings): (Vec<_>, Vec<_>) =
        checker.problems.into_iter().partition(Diagnostic::is_error);
    // File order reads best; problems without a line (a missing table) come last.
    errors.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
    warnings.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
    (site, errors, warnings)
}

/// Collects every problem of one site.toml.
pub(super) struct Checker<'a> {
    path: &'a Path,
    pub(super) text: &'a str,
    /// The folder holding site.toml.
    pub(super) root: &'a Path,
    /// Errors and warnings, in the order found.
    problems: Vec<Diagnostic>,
    /// Keys dropped for a wrongly typed value, as `site.base_url`, `actor "news": handle` or
    /// `actor`, so that they are not reported a second time as missing.
    pub(super) mistyped: Vec<String>,
}

impl Checker<'_> {
    pub(super) fn error(
        &mut self,
        span: impl Into<Option<Range<usize>>>,
        message: impl Into<String>,
    ) {
        self.report(Severity::Error, span.into(), message.into());
    }

    pub(super) fn warning(
        &mut self,
        span: impl Into<Option<Range<usize>>>,
        message: impl Into<String>,
    ) {
        self.report(Severity::Warning, span.into(), message.into());
    }

    fn report(&mut self, severity: Severity, span: Option<Range<usize>>, message: String) {
        self.problems.push(Diagnostic {
            severity,
            file: self.path.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)),
            message,
        });
    }

    /// Reads the document into the raw structs, then checks every rule; `None` when some value
    /// was missing or unusable (always with an error recorded).
    fn check(&mut self, mut top: DeTable<'_>) -> Option<Site> {
        self.prune(&mut top, TOP_KEYS, "at the top level");
        let site = match top.remove("site") {
            Some(v) => self.table(v, "site", SITE_KEYS),
            None => {
                self.error(
                    None,
                    "no [site] table (add [site] with base_url = \"https://social.example.org\")",
                );
                None
            }
        };
        let dev: RawDev = self.optional_table(top.remove("dev"), "dev", DEV_KEYS);
        let moderation: RawModeration =
            self.optional_table(top.remove("moderation"), "moderation", MODERATION_KEYS);
        let moderation = self.moderation(moderation);
        let limits: RawLimits = self.optional_table(top.remove("limits"), "limits", LIMITS_KEYS);
        let limits = self.limits(limits);
        let actors = match top.remove("actor") {
            Some(v) => self.actor_entries(v),
            None => Vec::new(),
        };
        self.validate(site, dev, moderation, limits, actors, top.remove("plugin"))
    }

    /// Reports and removes the keys of `table` that are not in `known`.
    pub(super) fn prune(&mut self, table: &mut DeTable<'_>, known: &[&str], place: &str) {
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

    /// Checks that `value` (the table `[key]`) is a table, prunes its unknown keys and
    /// deserializes it; type errors are reported as `{key}.{field}: ...`.
    fn table<T: DeserializeOwned>(
        &mut self,
        mut value: Spanned<DeValue<'_>>,
        key: &str,
        known: &[&str],
    ) -> Option<T> {
        let span = value.span();
        let DeValue::Table(table) = value.get_mut() else {
            let got = a_type(value.get_ref());
            self.error(
                span,
                format!("`{key}` must be a table, got {got} (write it as a [{key}] section)"),
            );
            return None;
        };
        self.prune(table, known, &format!("in [{key}]"));
        self.deserialize(value, &format!("{key}."))
    }

    /// A table that may be absent: its defaults then, and when it is unusable (reported).
    fn optional_table<T: DeserializeOwned + Default>(
        &mut self,
        value: Option<Spanned<DeValue<'_>>>,
        key: &str,
        known: &[&str],
    ) -> T {
        value
            .and_then(|v| self.table(v, key, known))
            .unwrap_or_default()
    }

    /// Deserializes a pruned table. A wrongly typed value is reported with the key holding it,
    /// and that key is dropped and the table read again, so one bad value hides nothing else.
    pub(super) fn deserialize<T: DeserializeOwned>(
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

    /// Checks every rule on the read values and builds the site when nothing is wrong.
    fn validate(
        &mut self,
        raw: Option<RawSite>,
        dev: RawDev,
        moderation: Moderation,
        limits: Limits,
        entries: Vec<ActorEntry>,
        plugins: Option<Spanned<DeValue<'_>>>,
    ) -> Option<Site> {
        let dev = self.dev(dev);
        let site_values = raw.map(|raw| {
            let values = self.site_values(&raw, dev.allow_http);
            let publish = self.publish(&raw);
            let timezone = self.timezone(raw.timezone.as_ref());
            (raw, values, publish, timezone)
        });
        let actors = self.actors(entries);
        let handles: Vec<String> = actors.iter().map(|a| a.handle.clone()).collect();
        let plugins = match plugins {
            Some(v) => self.plugins(v, &handles),
            None => Vec::new(),
        };

        let watch_debounce = site_values
            .as_ref()
            .map(|(raw, _, _, _)| self.watch_debounce(raw))
            .unwrap_or(super::site::DEFAULT_WATCH_DEBOUNCE);
        let (raw, (base_url, domain, html_base_url), publish, timezone) = site_values?;
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
            metrics_listen: raw.metrics_listen.map(Spanned::into_inner),
            watch_debounce,
            publish,
            timezone: timezone?,
            push_window: Duration::from_secs(
                raw.push_window_hours
                    .unwrap_or(DEFAULT_PUSH_WINDOW_HOURS)
                    .saturating_mul(3600),
            ),
            delete_grace: Duration::from_secs(
                raw.delete_grace_secs.unwrap_or(DEFAULT_DELETE_GRACE_SECS),
            ),
            mass_delete_threshold: raw
                .mass_delete_threshold
                .unwrap_or(DEFAULT_MASS_DELETE_THRESHOLD),
            actors,
            dev,
            moderation,
            limits,
            plugins,
            root: self.root.to_path_buf(),
        };
        Some(site)
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

/// The valid key closest to `key`, for a plugin's config checked against its own schema.
pub fn nearest_key<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    nearest(key, known)
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

/// A TOML value's type with its article: "a string", "an integer".
pub(super) fn a_type(value: &DeValue<'_>) -> String {
    let name = value.type_str();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

#[cfg(test)]
mod tests {
    use super::super::actor::ACTOR_KEYS;
    use super::super::test_support::*;
    use super::*;

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
}

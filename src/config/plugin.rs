//! `[[plugin]]`: the WebAssembly plugins that judge what arrives (and what we publish), in the
//! order they run. This file owns the table's keys and rules: a unique name, a path that is a
//! `.wasm` component or a plugin source folder, actors that exist, known grants and modes. The
//! `[plugin.config]` table is kept as data with the line of each key: it is checked against the
//! schema the plugin itself exports when `crate::plugins` loads it, and reported in the same
//! `file:line: what (what to do)` shape.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::validate::{a_type, Checker};
use crate::diagnostics::line_of;

/// The keys `[[plugin]]` accepts.
pub(super) const PLUGIN_KEYS: &[&str] = &[
    "name", "path", "actors", "on_error", "mode", "grants", "config",
];

/// One `[[plugin]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plugin {
    /// Unique; shown in logs, the queue and `status`.
    pub name: String,
    /// A `.wasm` component, or a plugin source folder (holding Cargo.toml) built on demand;
    /// absolute (resolved against the folder of site.toml).
    pub path: PathBuf,
    /// The handles of our actors it judges; `None` for every actor.
    pub actors: Option<Vec<String>>,
    /// What a trap, a timeout or a bad answer means; `None` for the default of each kind of
    /// event (hold follows, replies and mentions; count likes and boosts; hold back a post).
    pub on_error: Option<OnError>,
    /// Live, or shadow: decisions are logged, never applied.
    pub mode: Mode,
    /// Capabilities the operator gives it beyond judging.
    pub grants: Vec<Grant>,
    /// `[plugin.config]`, as JSON (an empty object when absent).
    pub config: serde_json::Value,
    /// The line of each key of `[plugin.config]`, by dotted path (`rules.keywords`; keys of a
    /// list of tables are listed once, at their first line).
    pub config_lines: BTreeMap<String, usize>,
    /// The line of `[[plugin]]`, and of its `config` table when given.
    pub line: usize,
    pub config_line: Option<usize>,
}

/// `on_error`: the verdict when a plugin fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    Hold,
    Accept,
    Reject,
}

/// `mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Decisions are applied.
    #[default]
    Live,
    /// Decisions are logged as what would have happened, and not applied.
    Shadow,
}

/// A capability granted in `grants`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grant {
    /// Post replies as our actor.
    Reply,
}

impl Plugin {
    /// The plugin `name` at `path` with `config`, every other key at its default (every actor,
    /// each event's own `on_error`, live, no grants), as a `[[plugin]]` on line 1 giving only
    /// those would read.
    pub fn new(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        config: serde_json::Value,
    ) -> Plugin {
        Plugin {
            name: name.into(),
            path: path.into(),
            actors: None,
            on_error: None,
            mode: Mode::Live,
            grants: vec![],
            config,
            config_lines: BTreeMap::new(),
            line: 1,
            config_line: None,
        }
    }

    /// Whether the plugin judges events for our actor `handle`.
    pub fn judges(&self, handle: &str) -> bool {
        self.actors
            .as_ref()
            .is_none_or(|a| a.iter().any(|h| h == handle))
    }

    /// Whether `grant` was given.
    pub fn granted(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// Whether `path` names a source folder (built on demand) rather than a component.
    pub fn is_source(&self) -> bool {
        self.path.is_dir()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    name: Spanned<String>,
    path: Spanned<PathBuf>,
    actors: Option<Vec<Spanned<String>>>,
    on_error: Option<OnError>,
    mode: Option<Mode>,
    #[serde(default)]
    grants: Vec<Grant>,
}

impl Checker<'_> {
    /// Reads `plugin`, which should be an array of tables (`[[plugin]]`), checking each against
    /// the `handles` of the actors.
    pub(super) fn plugins(
        &mut self,
        value: Spanned<DeValue<'_>>,
        handles: &[String],
    ) -> Vec<Plugin> {
        let span = value.span();
        let items = match value.into_inner() {
            DeValue::Array(items) => items,
            other => {
                let got = a_type(&other);
                self.error(
                    span,
                    format!("`plugin` must be a list of tables, got {got} (write each plugin as a [[plugin]] section)"),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<Plugin> = Vec::new();
        for (i, mut item) in items.into_iter().enumerate() {
            let span = item.span();
            let line = line_of(self.text, span.start);
            let DeValue::Table(table) = item.get_mut() else {
                let got = a_type(item.get_ref());
                self.error(span, format!("plugin #{}: must be a table, got {got} (write each plugin as a [[plugin]] section)", i + 1));
                continue;
            };
            let label = match table.get("name").and_then(|h| h.get_ref().as_str()) {
                Some(n) if !n.is_empty() => format!("plugin {n:?}"),
                _ => format!("plugin #{}", i + 1),
            };
            self.prune(table, PLUGIN_KEYS, "in [[plugin]]");
            let (config, config_lines, config_line) = match table.remove("config") {
                None => (
                    serde_json::Value::Object(Default::default()),
                    BTreeMap::new(),
                    None,
                ),
                Some(v) => {
                    let cline = line_of(self.text, v.span().start);
                    let mut lines = BTreeMap::new();
                    match v.get_ref() {
                        DeValue::Table(_) => {
                            let json = self.json(v.get_ref(), "", &mut lines);
                            (json, lines, Some(cline))
                        }
                        other => {
                            let got = a_type(other);
                            self.error(v.span(), format!("{label}: config must be a table, got {got} (write it as a [plugin.config] section)"));
                            (
                                serde_json::Value::Object(Default::default()),
                                lines,
                                Some(cline),
                            )
                        }
                    }
                }
            };
            let Some(raw) = self.deserialize::<RawPlugin>(item, &format!("{label}: ")) else {
                continue;
            };
            let name = raw.name.get_ref().clone();
            if !valid_name(&name) {
                self.error(raw.name.span(), format!("{label}: name may only contain a-z, 0-9, - and _, got {name:?} (it names the plugin in logs and commands)"));
            } else if out.iter().any(|p| p.name == name) {
                self.error(raw.name.span(), format!("{label}: name is used by an earlier [[plugin]] (give each plugin its own name)"));
            }
            let path = self.root.join(raw.path.get_ref());
            let is_wasm = path.extension().is_some_and(|e| e == "wasm");
            if path.is_dir() {
                if !path.join("Cargo.toml").is_file() {
                    self.error(raw.path.span(), format!("{label}: {} is a folder without Cargo.toml (give a .wasm component or a plugin source folder; `masthead plugin new {name}` makes one)", raw.path.get_ref().display()));
                }
            } else if !is_wasm {
                self.error(raw.path.span(), format!("{label}: path must be a .wasm component or a plugin source folder, got {} (build the plugin with `masthead plugin build`)", raw.path.get_ref().display()));
            } else if !path.is_file() {
                self.error(raw.path.span(), format!("{label}: {} does not exist (build it with `masthead plugin build {name}`, or fix the path)", raw.path.get_ref().display()));
            }
            let actors = raw.actors.map(|list| {
                let mut ok = Vec::new();
                for a in list {
                    if handles.iter().any(|h| h == a.get_ref()) {
                        ok.push(a.into_inner());
                    } else {
                        let known = handles.join(", ");
                        self.error(a.span(), format!("{label}: actors names {:?}, which is no [[actor]] handle (known: {known})", a.get_ref()));
                    }
                }
                ok
            });
            let mut grants = raw.grants;
            grants.sort();
            grants.dedup();
            out.push(Plugin {
                name,
                path,
                actors,
                on_error: raw.on_error,
                mode: raw.mode.unwrap_or_default(),
                grants,
                config,
                config_lines,
                line,
                config_line,
            });
        }
        out
    }

    /// `value` as JSON, recording the line of every table key by dotted path.
    fn json(
        &self,
        value: &DeValue<'_>,
        path: &str,
        lines: &mut BTreeMap<String, usize>,
    ) -> serde_json::Value {
        use serde_json::Value as J;
        match value {
            DeValue::String(s) => J::String(s.to_string()),
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .map(J::from)
                .unwrap_or_else(|_| J::String(i.to_string())),
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(J::Number)
                .unwrap_or(J::Null),
            DeValue::Boolean(b) => J::Bool(*b),
            DeValue::Datetime(d) => J::String(d.to_string()),
            DeValue::Array(items) => J::Array(
                items
                    .iter()
                    .map(|v| self.json(v.get_ref(), path, lines))
                    .collect(),
            ),
            DeValue::Table(table) => {
                let mut map = serde_json::Map::new();
                for (k, v) in table.iter() {
                    let key = k.get_ref().to_string();
                    let full = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    lines
                        .entry(full.clone())
                        .or_insert_with(|| line_of(self.text, k.span().start));
                    map.insert(key, self.json(v.get_ref(), &full, lines));
                }
                J::Object(map)
            }
        }
    }
}

/// A plugin name: a-z, 0-9, `-` and `_`, starting with a letter.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use std::fs;

    fn with_plugin_files(dir: &tempfile::TempDir) {
        fs::create_dir_all(dir.path().join("plugins/kw/src")).unwrap();
        fs::write(dir.path().join("plugins/kw/Cargo.toml"), "[package]\n").unwrap();
        fs::write(dir.path().join("plugins/faq.wasm"), b"\0asm").unwrap();
    }

    #[test]
    fn can_read_every_plugin_key() {
        let dir = site_dir();
        with_plugin_files(&dir);
        let text = format!(
            r#"{GOOD}
[[plugin]]
name = "spam-words"
path = "plugins/kw"
actors = ["news"]
on_error = "reject"
mode = "shadow"
grants = ["reply"]
[plugin.config]
words = ["casino", "crypto giveaway"]
action = "hold"

[[plugin]]
name = "faq"
path = "plugins/faq.wasm"
[[plugin.config.rules]]
keywords = ["opening hours"]
reply = "8:30-17:00"
"#
        );
        let site = parse_in(&dir, &text).unwrap().site;
        let [kw, faq] = &site.plugins[..] else {
            panic!("{:?}", site.plugins)
        };
        assert_eq!(kw.name, "spam-words");
        assert_eq!(kw.path, dir.path().join("plugins/kw"));
        assert!(kw.is_source());
        assert_eq!(kw.actors, Some(vec!["news".to_string()]));
        assert!(kw.judges("news") && !kw.judges("other"));
        assert_eq!(kw.on_error, Some(OnError::Reject));
        assert_eq!(kw.mode, Mode::Shadow);
        assert!(kw.granted(Grant::Reply));
        assert_eq!(
            kw.config,
            serde_json::json!({"words": ["casino", "crypto giveaway"], "action": "hold"})
        );
        assert_eq!(kw.config_lines["words"], 15);
        assert_eq!(kw.line, 7);
        assert_eq!(faq.mode, Mode::Live);
        assert!(faq.judges("anyone") && !faq.granted(Grant::Reply) && faq.on_error.is_none());
        assert_eq!(
            faq.config,
            serde_json::json!({"rules": [{"keywords": ["opening hours"], "reply": "8:30-17:00"}]})
        );
        assert_eq!(faq.config_lines["rules.reply"], 23);
    }

    #[test]
    fn rejects_bad_plugin_values_all_at_once() {
        let dir = site_dir();
        with_plugin_files(&dir);
        let text = format!(
            r#"{GOOD}
[[plugin]]
name = "Spam Words"
path = "plugins/missing.wasm"
actors = ["nobody"]
on_error = "explode"
grants = ["post"]
colour = 1

[[plugin]]
name = "faq"
path = "plugins/faq.wasm"

[[plugin]]
name = "faq"
path = "site.toml"
mode = "dry"
"#
        );
        assert_eq!(
            errors_in(&dir, &text),
            [
                "site.toml:8: plugin \"Spam Words\": name may only contain a-z, 0-9, - and _, got \"Spam Words\" (it names the plugin in logs and commands)",
                "site.toml:9: plugin \"Spam Words\": plugins/missing.wasm does not exist (build it with `masthead plugin build Spam Words`, or fix the path)",
                "site.toml:10: plugin \"Spam Words\": actors names \"nobody\", which is no [[actor]] handle (known: news)",
                "site.toml:11: plugin \"Spam Words\": on_error must be one of `hold`, `accept`, `reject`, got `explode`",
                "site.toml:12: plugin \"Spam Words\": grants must be `reply`, got `post`",
                "site.toml:13: unknown key `colour` in [[plugin]] (valid keys: name, path, actors, on_error, mode, grants, config)",
                "site.toml:20: plugin \"faq\": name is used by an earlier [[plugin]] (give each plugin its own name)",
                "site.toml:21: plugin \"faq\": path must be a .wasm component or a plugin source folder, got site.toml (build the plugin with `masthead plugin build`)",
                "site.toml:22: plugin \"faq\": mode must be `live` or `shadow`, got `dry`",
            ]
        );
    }
}

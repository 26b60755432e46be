//! `[plugin.config]` checked against the keys a plugin declares (its `config-schema` export), as
//! strictly as site.toml: an unknown key names the nearest valid one, a missing required key and
//! a value of the wrong type are errors, each with the line of the key.

use serde_json::Value;

use super::model::{ConfigKey, ConfigType};
use crate::config::{nearest_key, Plugin};

/// Every problem of `plugin`'s config against `schema`, as (line, message).
pub(super) fn check(plugin: &Plugin, schema: &[ConfigKey]) -> Vec<(Option<usize>, String)> {
    let mut problems = Vec::new();
    let root = plugin.config.as_object().cloned().unwrap_or_default();
    check_table(plugin, schema, "", &root, &mut problems);
    problems.sort_by_key(|(line, _)| line.unwrap_or(usize::MAX));
    problems
}

fn check_table(
    plugin: &Plugin,
    schema: &[ConfigKey],
    prefix: &str,
    table: &serde_json::Map<String, Value>,
    problems: &mut Vec<(Option<usize>, String)>,
) {
    // The keys declared at this level: `prefix.name` with no further dot.
    let here: Vec<&ConfigKey> = schema
        .iter()
        .filter(|k| match k.name.strip_prefix(prefix) {
            Some(rest) => !rest.is_empty() && !rest.contains('.'),
            None => false,
        })
        .collect();
    let names: Vec<&str> = here.iter().map(|k| &k.name[prefix.len()..]).collect();
    let place = if prefix.is_empty() {
        "[plugin.config]".to_string()
    } else {
        format!("[plugin.config.{}]", prefix.trim_end_matches('.'))
    };
    for (key, value) in table {
        let full = format!("{prefix}{key}");
        let line = plugin.config_lines.get(&full).copied();
        let Some(decl) = here.iter().find(|k| k.name == full) else {
            let hint = match nearest_key(key, &names) {
                Some(near) => format!("did you mean `{near}`?"),
                None if names.is_empty() => "this plugin takes no settings here".to_string(),
                None => format!("valid keys: {}", names.join(", ")),
            };
            problems.push((line, format!("unknown key `{key}` in {place} ({hint})")));
            continue;
        };
        let ok = match decl.ty {
            ConfigType::String => value.is_string(),
            ConfigType::Integer => value.is_i64() || value.is_u64(),
            ConfigType::Float => value.is_number(),
            ConfigType::Boolean => value.is_boolean(),
            ConfigType::StringList => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            ConfigType::Table => value.is_object(),
            ConfigType::TableList => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_object)),
        };
        if !ok {
            problems.push((
                line,
                format!(
                    "config.{full} must be {}, got {} ({})",
                    expected(decl.ty),
                    got(value),
                    decl.doc
                ),
            ));
            continue;
        }
        let nested = format!("{full}.");
        match value {
            Value::Object(t) => check_table(plugin, schema, &nested, t, problems),
            Value::Array(items) if decl.ty == ConfigType::TableList => {
                for item in items.iter().filter_map(Value::as_object) {
                    check_table(plugin, schema, &nested, item, problems);
                }
            }
            _ => {}
        }
    }
    for decl in here.iter().filter(|k| k.required) {
        if !table.contains_key(&decl.name[prefix.len()..]) {
            let line = plugin
                .config_lines
                .get(prefix.trim_end_matches('.'))
                .copied()
                .or(plugin.config_line);
            problems.push((
                line,
                format!(
                    "{place} has no `{}` (add it: {}; {})",
                    &decl.name[prefix.len()..],
                    expected(decl.ty),
                    decl.doc
                ),
            ));
        }
    }
}

fn expected(ty: ConfigType) -> &'static str {
    match ty {
        ConfigType::String => "a string",
        ConfigType::Integer => "an integer",
        ConfigType::Float => "a number",
        ConfigType::Boolean => "true or false",
        ConfigType::StringList => "a list of strings",
        ConfigType::Table => "a table",
        ConfigType::TableList => "a list of tables",
    }
}

fn got(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) => format!("number `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a table".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(config: Value, lines: &[(&str, usize)]) -> Plugin {
        Plugin {
            config_lines: lines.iter().map(|(k, l)| (k.to_string(), *l)).collect(),
            config_line: Some(4),
            ..Plugin::new("kw", "kw.wasm", config)
        }
    }

    fn key(name: &str, ty: ConfigType, required: bool) -> ConfigKey {
        ConfigKey {
            name: name.into(),
            ty,
            required,
            doc: "what it does".into(),
        }
    }

    #[test]
    fn rejects_unknown_missing_and_mistyped_keys_naming_the_nearest() {
        let schema = [
            key("words", ConfigType::StringList, true),
            key("action", ConfigType::String, false),
            key("rules", ConfigType::TableList, false),
            key("rules.reply", ConfigType::String, true),
        ];
        let p = plugin(
            serde_json::json!({"wrods": ["x"], "action": 3, "rules": [{"reply": "hi", "keyword": "x"}, {}]}),
            &[
                ("wrods", 5),
                ("action", 6),
                ("rules", 7),
                ("rules.reply", 8),
                ("rules.keyword", 9),
            ],
        );
        let got: Vec<String> = check(&p, &schema)
            .into_iter()
            .map(|(l, m)| format!("{}: {m}", l.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                "4: [plugin.config] has no `words` (add it: a list of strings; what it does)",
                "5: unknown key `wrods` in [plugin.config] (did you mean `words`?)",
                "6: config.action must be a string, got number `3` (what it does)",
                "7: [plugin.config.rules] has no `reply` (add it: a string; what it does)",
                "9: unknown key `keyword` in [plugin.config.rules] (valid keys: reply)",
            ]
        );
        let fine = plugin(serde_json::json!({"words": ["a"]}), &[]);
        assert!(check(&fine, &schema).is_empty());
    }
}

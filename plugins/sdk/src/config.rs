//! A plugin's own check of its config values, run when masthead loads it.
//!
//! masthead checks `[plugin.config]`'s keys and types against the plugin's schema and reports
//! each problem with its line. What a schema cannot say (one of a few words, a number in a
//! range, two keys that must agree) the plugin checks in [`crate::Plugin::check_config`]: the
//! host calls `config-schema` while loading, with the config already set, and [`crate::register!`]
//! runs the check there; an error fails the load (`masthead check` and the reload report it, and
//! the previous version keeps running). The check runs only when the keys and types already
//! match the schema, so a misspelt key is reported by the host, with its line, rather than as a
//! failed parse here.

use serde_json::Value;

use crate::{ConfigKey, ConfigType};

/// Whether `config` (the `[plugin.config]` table as JSON) has only keys `schema` declares, each
/// of its declared type, and every required one: what the host checks before the plugin runs.
pub fn matches_schema(schema: &[ConfigKey], config: &Value) -> bool {
    match config {
        Value::Object(table) => table_matches(schema, "", table),
        _ => false,
    }
}

fn table_matches(
    schema: &[ConfigKey],
    prefix: &str,
    table: &serde_json::Map<String, Value>,
) -> bool {
    let here = |k: &&ConfigKey| {
        k.name
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('.'))
    };
    let required_present = schema
        .iter()
        .filter(here)
        .filter(|k| k.required)
        .all(|k| table.contains_key(&k.name[prefix.len()..]));
    required_present
        && table.iter().all(|(key, value)| {
            let full = format!("{prefix}{key}");
            let Some(decl) = schema.iter().find(|k| k.name == full) else {
                return false;
            };
            let nested = format!("{full}.");
            match (decl.type_, value) {
                (ConfigType::String, Value::String(_)) => true,
                (ConfigType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
                (ConfigType::Float, Value::Number(_)) => true,
                (ConfigType::Boolean, Value::Bool(_)) => true,
                (ConfigType::StringList, Value::Array(a)) => a.iter().all(Value::is_string),
                (ConfigType::Table, Value::Object(t)) => table_matches(schema, &nested, t),
                (ConfigType::TableList, Value::Array(a)) => a.iter().all(|item| {
                    item.as_object()
                        .is_some_and(|t| table_matches(schema, &nested, t))
                }),
                _ => false,
            }
        })
}

/// Runs `check` when `config` matches `schema`, as the host's load does through
/// [`crate::register!`]; panics with `[plugin.config]: ` and the check's message when it fails.
#[doc(hidden)]
pub fn run_check(schema: &[ConfigKey], config: &str, check: impl FnOnce() -> Result<(), String>) {
    let Ok(value) = serde_json::from_str::<Value>(config) else {
        return;
    };
    if matches_schema(schema, &value) {
        if let Err(e) = check() {
            panic!("[plugin.config]: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Vec<ConfigKey> {
        vec![
            ConfigKey::required("max", ConfigType::Integer, "at most"),
            ConfigKey::optional("action", ConfigType::String, "what to do"),
            ConfigKey::optional("words", ConfigType::StringList, "words"),
            ConfigKey::optional("rules", ConfigType::TableList, "rules"),
            ConfigKey::required("rules.reply", ConfigType::String, "answer"),
        ]
    }

    #[test]
    fn can_match_a_config_of_the_schemas_keys_and_types() {
        for ok in [
            json!({ "max": 3 }),
            json!({ "max": 3, "action": "hold", "words": ["a"] }),
            json!({ "max": 3, "rules": [{ "reply": "hi" }] }),
        ] {
            assert!(matches_schema(&schema(), &ok), "{ok}");
        }
    }

    #[test]
    fn rejects_a_config_the_host_would_refuse() {
        for bad in [
            json!({}),
            json!({ "max": "3" }),
            json!({ "max": 3.5 }),
            json!({ "max": 3, "acton": "hold" }),
            json!({ "max": 3, "words": [1] }),
            json!({ "max": 3, "rules": [{}] }),
            json!({ "max": 3, "rules": [{ "reply": "hi", "extra": 1 }] }),
            json!([]),
        ] {
            assert!(!matches_schema(&schema(), &bad), "{bad}");
        }
    }

    #[test]
    fn can_run_a_check_only_on_a_config_that_matches() {
        run_check(&schema(), r#"{"max": "x"}"#, || Err("never run".into()));
        run_check(&schema(), r#"{"max": 3}"#, || Ok(()));
        let caught = std::panic::catch_unwind(|| {
            run_check(&schema(), r#"{"max": 0}"#, || {
                Err("max must be 1 or more".into())
            })
        });
        let message = caught.unwrap_err();
        assert_eq!(
            message.downcast_ref::<String>().map(String::as_str),
            Some("[plugin.config]: max must be 1 or more")
        );
    }
}

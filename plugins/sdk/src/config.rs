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

//!
//! A flat table is declared once with [`crate::config_table!`]: the struct its values are read
//! into and, from the same fields and their doc comments, the schema ([`Table`]). What a plugin
//! makes of it ([`Settings`]) is checked at load by [`check`] and parsed once per instance;
//! `register!(P, settings = S)` wires both.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ConfigKey, ConfigType};

/// What a plugin makes of its `[plugin.config]` table (its rules, limits, lists), with the
/// config's own checks: each value refused names its key.
pub trait Settings: Sized + Send + Sync + 'static {
    /// The table as written.
    type Table: Table;

    /// The settings, or what is wrong with a value.
    fn parse(table: Self::Table) -> Result<Self, String>;
}

/// A `[plugin.config]` table as written, with its keys (see [`crate::config_table!`]).
pub trait Table: DeserializeOwned {
    /// The keys, for the host: what [`crate::Plugin::config_schema`] returns.
    fn schema() -> Vec<ConfigKey>;
}

/// The load-time check ([`crate::Plugin::check_config`]) of a plugin whose settings are `S`: reads the table and
/// parses it, keeping only the error.
pub fn check<S: Settings>() -> Result<(), String> {
    S::parse(crate::host::try_config()?).map(|_| ())
}

/// A field type of a [`crate::config_table!`]: its type in the schema, and whether the key must
/// be given (every type but `Option<_>`).
pub trait ConfigValue {
    const TYPE: ConfigType;
    const REQUIRED: bool = true;
}

impl ConfigValue for String {
    const TYPE: ConfigType = ConfigType::String;
}

impl ConfigValue for i64 {
    const TYPE: ConfigType = ConfigType::Integer;
}

impl ConfigValue for f64 {
    const TYPE: ConfigType = ConfigType::Float;
}

impl ConfigValue for bool {
    const TYPE: ConfigType = ConfigType::Boolean;
}

impl ConfigValue for Vec<String> {
    const TYPE: ConfigType = ConfigType::StringList;
}

impl<T: ConfigValue> ConfigValue for Option<T> {
    const TYPE: ConfigType = T::TYPE;
    const REQUIRED: bool = false;
}

/// Declares a flat `[plugin.config]` table once: the struct its values are read into
/// (`Deserialize`; the plugin depends on `serde`) and its [`Table::schema`], each key named as its field, typed by its Rust type (see
/// [`ConfigValue`]), optional when an `Option`, and documented by its doc comment.
///
/// ```ignore
/// masthead_plugin::config_table! {
///     struct Config {
///         /// replies and mentions one account may send per window
///         max: i64,
///         /// what to do past the limit: hold (default) or reject
///         action: Option<String>,
///     }
/// }
/// ```
///
/// A table with nested tables (`rules.reply`) lists its keys with [`ConfigKey::required`] and
/// [`ConfigKey::optional`] instead.
#[macro_export]
macro_rules! config_table {
    (
        $(#[$attr:meta])*
        struct $name:ident {
            $( $(#[doc = $doc:literal])+ $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        #[derive(::serde::Deserialize)]
        $(#[$attr])*
        struct $name {
            $( $(#[doc = $doc])+ $field: $ty ),*
        }

        impl $crate::config::Table for $name {
            fn schema() -> ::std::vec::Vec<$crate::ConfigKey> {
                ::std::vec![$(
                    $crate::ConfigKey {
                        name: ::std::string::String::from(::std::stringify!($field)),
                        type_: <$ty as $crate::config::ConfigValue>::TYPE,
                        required: <$ty as $crate::config::ConfigValue>::REQUIRED,
                        doc: ::std::string::String::from(::std::concat!($($doc),+).trim()),
                    }
                ),*]
            }
        }
    };
}

/// The whole number under `key`, if given: 0 or more.
pub fn whole_number(key: &str, value: Option<i64>) -> Result<Option<u32>, String> {
    value
        .map(|n| u32::try_from(n).map_err(|_| format!("`{key}` must be 0 or more, got {n}")))
        .transpose()
}

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

    crate::config_table! {
        struct Limits {
            /// at most
            max: i64,
            /// what to do, a doc comment
            /// over two lines
            action: Option<String>,
            /// words
            words: Option<Vec<String>>,
            /// whether to
            strict: bool,
        }
    }

    #[test]
    fn can_declare_a_table_and_its_schema_once() {
        let keys: Vec<(String, ConfigType, bool, String)> = Limits::schema()
            .into_iter()
            .map(|k| (k.name, k.type_, k.required, k.doc))
            .collect();
        let key = |name: &str, ty, required, doc: &str| (name.into(), ty, required, doc.into());
        assert_eq!(
            keys,
            [
                key("max", ConfigType::Integer, true, "at most"),
                key(
                    "action",
                    ConfigType::String,
                    false,
                    "what to do, a doc comment over two lines"
                ),
                key("words", ConfigType::StringList, false, "words"),
                key("strict", ConfigType::Boolean, true, "whether to"),
            ]
        );
        let read: Limits = serde_json::from_value(json!({ "max": 3, "strict": false })).unwrap();
        assert_eq!(
            (read.max, read.action, read.words, read.strict),
            (3, None, None, false)
        );
    }

    #[test]
    fn rejects_a_negative_whole_number() {
        assert_eq!(whole_number("n", None), Ok(None));
        assert_eq!(whole_number("n", Some(0)), Ok(Some(0)));
        assert_eq!(
            whole_number("n", Some(-1)),
            Err("`n` must be 0 or more, got -1".into())
        );
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

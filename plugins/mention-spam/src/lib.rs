//! mention-spam: holds or rejects a reply or mention that mentions more than a given number of
//! accounts (each counted once, ours included): Pleroma's HellthreadPolicy, whose "delist" is a
//! hold here. Give `hold_above`, `reject_above` or both.
//!
//! ```toml
//! [[plugin]]
//! name = "mention-spam"
//! path = "plugins/mention-spam"
//! [plugin.config]
//! hold_above = 5       # 6 to 10 mentions: held for a person
//! reject_above = 10    # 11 or more: dropped
//! ```

use std::collections::HashSet;

use masthead_plugin::prelude::*;

#[derive(Deserialize)]
struct Config {
    hold_above: Option<i64>,
    reject_above: Option<i64>,
}

struct Limits {
    hold_above: Option<u32>,
    reject_above: Option<u32>,
}

fn limit(key: &str, value: Option<i64>) -> Result<Option<u32>, String> {
    value
        .map(|n| u32::try_from(n).map_err(|_| format!("`{key}` must be 0 or more, got {n}")))
        .transpose()
}

impl Limits {
    fn parse(c: Config) -> Result<Limits, String> {
        let limits = Limits {
            hold_above: limit("hold_above", c.hold_above)?,
            reject_above: limit("reject_above", c.reject_above)?,
        };
        match (limits.hold_above, limits.reject_above) {
            (None, None) => Err("give `hold_above`, `reject_above` or both".into()),
            (Some(hold), Some(reject)) if reject <= hold => Err(format!(
                "`reject_above` ({reject}) must be more than `hold_above` ({hold}), or nothing is ever held"
            )),
            _ => Ok(limits),
        }
    }
}

fn limits() -> &'static Limits {
    static LIMITS: FromConfig<Limits> = FromConfig::new();
    LIMITS.get(|c| Limits::parse(c).unwrap_or_else(|e| panic!("{e}")))
}

struct MentionSpam;

impl Plugin for MentionSpam {
    fn config_schema() -> Vec<ConfigKey> {
        vec![
            ConfigKey::optional(
                "hold_above",
                ConfigType::Integer,
                "hold a note that mentions more accounts than this",
            ),
            ConfigKey::optional(
                "reject_above",
                ConfigType::Integer,
                "reject a note that mentions more accounts than this",
            ),
        ]
    }

    fn check_config() -> Result<(), String> {
        Limits::parse(host::try_config()?).map(|_| ())
    }

    fn on_note(event: NoteEvent) -> NoteDecision {
        let limits = limits();
        let n = event.note.mentions.iter().collect::<HashSet<_>>().len() as u64;
        let why = |limit: u32| format!("mentions {n} accounts (more than {limit})");
        match (limits.reject_above, limits.hold_above) {
            (Some(limit), _) if n > u64::from(limit) => NoteDecision::reject(why(limit)),
            (_, Some(limit)) if n > u64::from(limit) => NoteDecision::hold(why(limit)),
            _ => NoteDecision::accept(),
        }
    }
}

masthead_plugin::register!(MentionSpam);

//! rate-limit: holds or rejects a remote account's replies and mentions past `max` within
//! `per_seconds`, counted in the plugin's key-value store by the server's clock. A window opens
//! at an account's first reply or mention and closes `per_seconds` later (a fixed window: at
//! most `max` get through in it, whatever their spacing); every note counts, the caught ones
//! too. Counted per remote account across every actor the plugin judges. Should the store be
//! full (1 MiB), notes are let through and a warning logged: a rate limit never blocks on
//! itself.
//!
//! ```toml
//! [[plugin]]
//! name = "rate-limit"
//! path = "plugins/rate-limit"
//! [plugin.config]
//! max = 5              # replies and mentions per account...
//! per_seconds = 600    # ...per 10 minutes
//! action = "hold"      # hold (default) | reject
//! ```

use masthead_plugin::prelude::*;

masthead_plugin::config_table! {
    struct Config {
        /// replies and mentions one account may send per window
        max: i64,
        /// the window, in seconds, from an account's first reply or mention
        per_seconds: i64,
        /// what to do past the limit: hold (default) or reject
        action: Option<String>,
    }
}

struct Limit {
    max: u32,
    per_seconds: u32,
    action: NoteAction,
}

impl Settings for Limit {
    type Table = Config;

    fn parse(c: Config) -> Result<Limit, String> {
        let positive = |key: &str, n: i64| match u32::try_from(n) {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "`{key}` must be between 1 and {}, got {n}",
                u32::MAX
            )),
        };
        let action = masthead_plugin::one_of(
            "action",
            c.action.as_deref(),
            &[("hold", NoteAction::Hold), ("reject", NoteAction::Reject)],
        )?;
        Ok(Limit {
            max: positive("max", c.max)?,
            per_seconds: positive("per_seconds", c.per_seconds)?,
            action,
        })
    }
}

struct RateLimit;

impl Plugin for RateLimit {
    fn on_note(event: NoteEvent) -> NoteDecision {
        let limit = Limit::current();
        let key = format!("notes\n{}", event.actor.id);
        match host::kv_add(&key, 1, Some(limit.per_seconds)) {
            Ok(n) if n > i64::from(limit.max) => limit.action.decide(format!(
                "{n} replies and mentions within {}s (at most {})",
                limit.per_seconds, limit.max
            )),
            Ok(_) => NoteDecision::accept(),
            Err(e) => {
                host::log(
                    Level::Warn,
                    &format!("cannot count {}: {e}", event.actor.id),
                );
                NoteDecision::accept()
            }
        }
    }
}

masthead_plugin::register!(RateLimit, settings = Limit);

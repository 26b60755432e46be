//! follow-gate: holds a follow request for a person when the account asking is younger than
//! `min_account_age_days`, has fewer than `min_followers` followers, or is a bot (an actor of
//! type `Service` or `Application`, unless `hold_bots = false`); lets every other one follow.
//! Pleroma's AntiFollowbotPolicy, with Akkoma's new-account threshold applied to follows. The
//! event carries the account's age, follower count and bot flag; it carries neither its post
//! count, nor its avatar or bio, so those cannot gate a follow (contract 0.1.0).
//!
//! ```toml
//! [[plugin]]
//! name = "follow-gate"
//! path = "plugins/follow-gate"
//! [plugin.config]
//! min_account_age_days = 7   # default 7; 0 turns it off
//! min_followers = 1          # default 1; 0 turns it off
//! hold_bots = true           # default true
//! when_unknown = "accept"    # accept (default) | hold
//! action = "hold"            # hold (default) | reject
//! ```

use masthead_plugin::prelude::*;
use masthead_plugin::standing::{Standing, Thresholds};

#[derive(Deserialize)]
struct Config {
    min_account_age_days: Option<i64>,
    min_followers: Option<i64>,
    hold_bots: Option<bool>,
    when_unknown: Option<String>,
    action: Option<String>,
}

struct Gate {
    thresholds: Thresholds,
    hold_bots: bool,
    hold_unknown: bool,
    action: FollowAction,
}

fn count(key: &str, value: Option<i64>, default: u32) -> Result<u32, String> {
    let Some(n) = value else { return Ok(default) };
    u32::try_from(n).map_err(|_| format!("`{key}` must be 0 or more, got {n}"))
}

impl Gate {
    fn parse(c: Config) -> Result<Gate, String> {
        Ok(Gate {
            thresholds: Thresholds {
                min_age_days: count("min_account_age_days", c.min_account_age_days, 7)?,
                min_followers: count("min_followers", c.min_followers, 1)?,
            },
            hold_bots: c.hold_bots.unwrap_or(true),
            hold_unknown: masthead_plugin::one_of(
                "when_unknown",
                c.when_unknown.as_deref(),
                &[("accept", false), ("hold", true)],
            )?,
            action: FollowAction::parse("action", c.action.as_deref(), FollowAction::Hold)?,
        })
    }
}

fn gate() -> &'static Gate {
    static GATE: FromConfig<Gate> = FromConfig::new();
    GATE.get(|c| Gate::parse(c).unwrap_or_else(|e| panic!("{e}")))
}

struct FollowGate;

impl Plugin for FollowGate {
    fn config_schema() -> Vec<ConfigKey> {
        vec![
            ConfigKey::optional(
                "min_account_age_days",
                ConfigType::Integer,
                "follows from accounts younger than this many days wait (default 7; 0: off)",
            ),
            ConfigKey::optional(
                "min_followers",
                ConfigType::Integer,
                "follows from accounts with fewer followers wait (default 1; 0: off)",
            ),
            ConfigKey::optional(
                "hold_bots",
                ConfigType::Boolean,
                "whether follows from bot accounts wait (default true)",
            ),
            ConfigKey::optional(
                "when_unknown",
                ConfigType::String,
                "when the account's server does not say its age or followers: accept (default) or hold",
            ),
            ConfigKey::optional(
                "action",
                ConfigType::String,
                "what to do with a caught follow: hold (default) or reject",
            ),
        ]
    }

    fn check_config() -> Result<(), String> {
        Gate::parse(host::try_config()?).map(|_| ())
    }

    fn on_follow(event: FollowEvent) -> FollowDecision {
        let gate = gate();
        if gate.hold_bots && event.actor.bot {
            return gate.action.decide("a bot account");
        }
        match gate.thresholds.judge(&event.actor) {
            Standing::Meets => FollowDecision::accept(),
            Standing::Short(why) => gate.action.decide(format!("an {why}")),
            Standing::Unknown(why) if gate.hold_unknown => {
                FollowDecision::hold(format!("an account of unknown {why}"))
            }
            Standing::Unknown(_) => FollowDecision::accept(),
        }
    }
}

masthead_plugin::register!(FollowGate);

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
use masthead_plugin::standing::{StandingRule, Thresholds};

masthead_plugin::config_table! {
    struct Config {
        /// follows from accounts younger than this many days wait (default 7; 0: off)
        min_account_age_days: Option<i64>,
        /// follows from accounts with fewer followers wait (default 1; 0: off)
        min_followers: Option<i64>,
        /// whether follows from bot accounts wait (default true)
        hold_bots: Option<bool>,
        /// when the account's server does not say its age or followers: accept (default) or hold
        when_unknown: Option<String>,
        /// what to do with a caught follow: hold (default) or reject
        action: Option<String>,
    }
}

struct Gate {
    rule: StandingRule<FollowAction>,
    hold_bots: bool,
}

impl Settings for Gate {
    type Table = Config;

    fn parse(c: Config) -> Result<Gate, String> {
        Ok(Gate {
            rule: StandingRule::from_config(
                Thresholds::from_config(c.min_account_age_days, c.min_followers)?,
                (c.when_unknown.as_deref(), false),
                (c.action.as_deref(), FollowAction::Hold),
            )?,
            hold_bots: c.hold_bots.unwrap_or(true),
        })
    }
}

struct FollowGate;

impl Plugin for FollowGate {
    fn on_follow(event: FollowEvent) -> FollowDecision {
        let gate = Gate::current();
        if gate.hold_bots && event.actor.bot {
            return gate.rule.action.decide("a bot account");
        }
        gate.rule.decide(&event.actor, "")
    }
}

masthead_plugin::register!(FollowGate, settings = Gate);

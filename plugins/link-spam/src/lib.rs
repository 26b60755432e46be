//! link-spam: holds a reply or mention with links when its author's account is younger than
//! `min_account_age_days` or has fewer than `min_followers` followers (Pleroma's
//! AntiLinkSpamPolicy). Links to `allow_domains` (your own site, say) do not count; mentions
//! and hashtags are never links. When the author's server does not publish the age or the
//! follower count, `when_unknown` decides.
//!
//! ```toml
//! [[plugin]]
//! name = "link-spam"
//! path = "plugins/link-spam"
//! [plugin.config]
//! min_account_age_days = 7     # default 7; 0 turns it off
//! min_followers = 1            # default 1; 0 turns it off
//! action = "hold"              # hold (default) | reject | hide
//! when_unknown = "hold"        # hold (default) | accept
//! allow_domains = ["town.example"]
//! ```

use masthead_plugin::domains::Domains;
use masthead_plugin::prelude::*;
use masthead_plugin::standing::{StandingRule, Thresholds};

masthead_plugin::config_table! {
    struct Config {
        /// links from accounts younger than this many days are caught (default 7; 0: off)
        min_account_age_days: Option<i64>,
        /// links from accounts with fewer followers are caught (default 1; 0: off)
        min_followers: Option<i64>,
        /// what to do with a caught note: hold (default), reject or hide
        action: Option<String>,
        /// when the author's server does not say its age or followers: hold (default) or accept
        when_unknown: Option<String>,
        /// links to these domains (and their subdomains) do not count
        allow_domains: Option<Vec<String>>,
    }
}

struct Rule {
    standing: StandingRule<NoteAction>,
    allowed: Domains,
}

impl Settings for Rule {
    type Table = Config;

    fn parse(c: Config) -> Result<Rule, String> {
        Ok(Rule {
            standing: StandingRule::from_config(
                Thresholds::from_config(c.min_account_age_days, c.min_followers)?,
                (c.when_unknown.as_deref(), true),
                (c.action.as_deref(), NoteAction::Hold),
            )?,
            allowed: Domains::new(c.allow_domains.unwrap_or_default())
                .map_err(|e| format!("`allow_domains`: {e}"))?,
        })
    }
}

struct LinkSpam;

impl Plugin for LinkSpam {
    fn on_note(event: NoteEvent) -> NoteDecision {
        let rule = Rule::current();
        let links = event
            .note
            .links
            .iter()
            .filter(|l| !rule.allowed.covers_url(l))
            .count();
        if links == 0 {
            return NoteDecision::accept();
        }
        let what = if links == 1 {
            "a link from "
        } else {
            "links from "
        };
        rule.standing.decide(&event.actor, what)
    }
}

masthead_plugin::register!(LinkSpam, settings = Rule);

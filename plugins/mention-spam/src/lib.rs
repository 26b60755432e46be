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

use masthead_plugin::config::whole_number;
use masthead_plugin::prelude::*;

masthead_plugin::config_table! {
    struct Config {
        /// hold a note that mentions more accounts than this
        hold_above: Option<i64>,
        /// reject a note that mentions more accounts than this
        reject_above: Option<i64>,
    }
}

struct Limits {
    hold_above: Option<u32>,
    reject_above: Option<u32>,
}

impl Settings for Limits {
    type Table = Config;

    fn parse(c: Config) -> Result<Limits, String> {
        let limits = Limits {
            hold_above: whole_number("hold_above", c.hold_above)?,
            reject_above: whole_number("reject_above", c.reject_above)?,
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

struct MentionSpam;

impl Plugin for MentionSpam {
    fn on_note(event: NoteEvent) -> NoteDecision {
        let limits = Limits::current();
        let n = event.note.mentions.iter().collect::<HashSet<_>>().len() as u64;
        let why = |limit: u32| format!("mentions {n} accounts (more than {limit})");
        match (limits.reject_above, limits.hold_above) {
            (Some(limit), _) if n > u64::from(limit) => NoteDecision::reject(why(limit)),
            (_, Some(limit)) if n > u64::from(limit) => NoteDecision::hold(why(limit)),
            _ => NoteDecision::accept(),
        }
    }
}

masthead_plugin::register!(MentionSpam, settings = Limits);

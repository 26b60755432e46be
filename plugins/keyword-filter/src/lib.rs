//! keyword-filter: holds, rejects or hides a reply or mention whose text, content warning or
//! image descriptions contain one of the configured words or phrases (case-insensitive, whole
//! words: `casino` does not match "casinos").
//!
//! ```toml
//! [[plugin]]
//! name = "spam-words"
//! path = "plugins/keyword-filter"
//! [plugin.config]
//! words = ["casino", "crypto giveaway"]
//! action = "hold"          # hold (default) | reject | hide
//! ```

use masthead_plugin::prelude::*;
use masthead_plugin::Phrases;

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Act {
    Hold,
    Reject,
    Hide,
}

#[derive(Deserialize)]
struct Config {
    words: Vec<String>,
    action: Option<Act>,
}

/// The config, read once per instance.
fn config() -> &'static (Phrases, Act) {
    static CONFIG: FromConfig<(Phrases, Act)> = FromConfig::new();
    CONFIG.get(|c: Config| (Phrases::new(&c.words), c.action.unwrap_or(Act::Hold)))
}

struct KeywordFilter;

impl Plugin for KeywordFilter {
    fn config_schema() -> Vec<ConfigKey> {
        vec![
            ConfigKey::required(
                "words",
                ConfigType::StringList,
                "words or phrases to catch, case-insensitive, whole words",
            ),
            ConfigKey::optional(
                "action",
                ConfigType::String,
                "what to do with a match: hold (default), reject or hide",
            ),
        ]
    }

    fn on_note(event: NoteEvent) -> NoteDecision {
        let (words, act) = config();
        let note = &event.note;
        let texts = std::iter::once(note.text.as_str())
            .chain(note.summary.as_deref())
            .chain(
                note.attachments
                    .iter()
                    .filter_map(|a| a.description.as_deref()),
            );
        for text in texts {
            if let Some(word) = words.find(text) {
                let why = format!("contains \"{word}\"");
                return match act {
                    Act::Hold => NoteDecision::hold(why),
                    Act::Reject => NoteDecision::reject(why),
                    Act::Hide => NoteDecision::hide(why),
                };
            }
        }
        NoteDecision::accept()
    }
}

masthead_plugin::register!(KeywordFilter);

//! auto-reply: answers a reply or mention in its thread when it contains a keyword of a rule
//! (the first rule with a matching keyword wins; case-insensitive, whole words), once per
//! conversation per person: the key-value store remembers whom it answered where. The host
//! sends the answer only when the note is finally kept (not when a later plugin rejects it),
//! never more visible than the question, and only with `grants = ["reply"]`.
//!
//! ```toml
//! [[plugin]]
//! name = "faq"
//! path = "plugins/auto-reply"
//! grants = ["reply"]
//! [[plugin.config.rules]]
//! keywords = ["opening hours", "horaires"]
//! reply = "The town hall is open 8:30-17:00, Monday to Friday."
//! ```

use masthead_plugin::prelude::*;
use masthead_plugin::Phrases;

#[derive(Deserialize)]
struct RuleConfig {
    keywords: Vec<String>,
    reply: String,
}

struct Rule {
    keywords: Phrases,
    reply: String,
}

fn rules() -> &'static [Rule] {
    static RULES: FromConfig<Vec<Rule>> = FromConfig::new();
    RULES.list("rules", |r: RuleConfig| {
        Some(Rule {
            keywords: Phrases::new(&r.keywords),
            reply: r.reply,
        })
    })
}

/// How long "already answered" is remembered: a conversation that comes back after 90 days is
/// a new one.
const REMEMBER_S: u32 = 90 * 24 * 3600;

struct AutoReply;

impl Plugin for AutoReply {
    fn config_schema() -> Vec<ConfigKey> {
        vec![
            ConfigKey::required(
                "rules",
                ConfigType::TableList,
                "the rules, tried in order: the first whose keyword appears answers",
            ),
            ConfigKey::required(
                "rules.keywords",
                ConfigType::StringList,
                "words or phrases that trigger the rule, case-insensitive, whole words",
            ),
            ConfigKey::required("rules.reply", ConfigType::String, "the answer, in Markdown"),
        ]
    }

    fn on_note(event: NoteEvent) -> NoteDecision {
        let note = &event.note;
        let Some(rule) = rules()
            .iter()
            .find(|r| r.keywords.find(&note.text).is_some())
        else {
            return NoteDecision::accept();
        };
        // The conversation: the post of ours it answers, else the note it answers, else itself.
        let conversation = match (&note.answers, &note.in_reply_to) {
            (Some(post), _) => format!("{}/{}", post.actor, post.slug),
            (None, Some(parent)) => parent.clone(),
            (None, None) => note.id.clone(),
        };
        let key = format!(
            "answered\n{}\n{}\n{}",
            event.target, conversation, event.actor.id
        );
        if host::kv_get(&key).is_some() {
            return NoteDecision::accept();
        }
        if let Err(e) = host::kv_set(&key, b"1", Some(REMEMBER_S)) {
            host::log(Level::Warn, &format!("cannot remember the answer: {e}"));
            return NoteDecision::accept();
        }
        NoteDecision::accept().with(Action::Reply(rule.reply.clone()))
    }
}

masthead_plugin::register!(AutoReply);

//! reply-router: sorts replies and mentions for the people who answer them. Each route names
//! a label and the words or phrases that send a note there (case-insensitive, whole words, in
//! the text or the content warning). Every route that matches labels the note; a route with
//! `hold = true` also keeps it out of sight until someone has looked at it (`masthead queue`),
//! and a route's `note` is attached for the operator. A note no route matches is left alone.
//!
//! ```toml
//! [[plugin]]
//! name = "router"
//! path = "plugins/reply-router"
//! [[plugin.config.routes]]
//! label = "support"
//! keywords = ["not working", "broken", "error", "can't log in"]
//! hold = true
//! note = "Answer from the help desk account within a day."
//! [[plugin.config.routes]]
//! label = "complaint"
//! keywords = ["disappointed", "unacceptable", "complaint"]
//! ```

use masthead_plugin::prelude::*;
use masthead_plugin::Phrases;

#[derive(Deserialize)]
struct RouteConfig {
    label: String,
    keywords: Vec<String>,
    #[serde(default)]
    hold: bool,
    note: Option<String>,
}

struct Route {
    label: String,
    keywords: Phrases,
    hold: bool,
    note: Option<String>,
}

fn routes() -> &'static [Route] {
    static ROUTES: FromConfig<Vec<Route>> = FromConfig::new();
    ROUTES.list("routes", |r: RouteConfig| {
        let label = r.label.trim().to_string();
        (!label.is_empty()).then(|| Route {
            label,
            keywords: Phrases::new(&r.keywords),
            hold: r.hold,
            note: r.note.filter(|n| !n.trim().is_empty()),
        })
    })
}

struct ReplyRouter;

impl Plugin for ReplyRouter {
    fn config_schema() -> Vec<ConfigKey> {
        vec![
            ConfigKey::required(
                "routes",
                ConfigType::TableList,
                "the routes; every route whose keyword appears applies",
            ),
            ConfigKey::required(
                "routes.label",
                ConfigType::String,
                "the label given to a matching note (shown in `masthead queue`)",
            ),
            ConfigKey::required(
                "routes.keywords",
                ConfigType::StringList,
                "words or phrases that send a note to this route, case-insensitive, whole words",
            ),
            ConfigKey::optional(
                "routes.hold",
                ConfigType::Boolean,
                "hold a matching note until a person decides (default false: label only)",
            ),
            ConfigKey::optional(
                "routes.note",
                ConfigType::String,
                "a note for the operator attached to a matching note",
            ),
        ]
    }

    fn on_note(event: NoteEvent) -> NoteDecision {
        let note = &event.note;
        let mut actions = Vec::new();
        let mut holds = Vec::new();
        for route in routes() {
            let found = route
                .keywords
                .find(&note.text)
                .or_else(|| note.summary.as_deref().and_then(|s| route.keywords.find(s)));
            let Some(keyword) = found else {
                continue;
            };
            actions.push(Action::Label(route.label.clone()));
            if let Some(n) = &route.note {
                actions.push(Action::Note(n.clone()));
            }
            if route.hold {
                holds.push(format!("looks like {} (\"{keyword}\")", route.label));
            }
        }
        let mut decision = if holds.is_empty() {
            NoteDecision::accept()
        } else {
            NoteDecision::hold(holds.join("; "))
        };
        for action in actions {
            decision = decision.with(action);
        }
        decision
    }
}

masthead_plugin::register!(ReplyRouter);

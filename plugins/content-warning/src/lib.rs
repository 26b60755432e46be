//! content-warning: puts one of our posts behind a content warning before it is published
//! when it carries a hashtag of a rule (front matter `tags` or an inline `#tag`; compared
//! without `#` and ignoring case). The first rule with a matching tag wins. A post that has a
//! content warning of its own (front matter `content_warning`) keeps it.
//!
//! ```toml
//! [[plugin]]
//! name = "cw"
//! path = "plugins/content-warning"
//! [[plugin.config.rules]]
//! tags = ["politics", "elections"]
//! warning = "Politics"
//! ```

use masthead_plugin::prelude::*;

#[derive(Deserialize)]
struct RuleConfig {
    tags: Vec<String>,
    warning: String,
}

struct Rule {
    /// Lowercase, without `#`.
    tags: Vec<String>,
    warning: String,
}

fn normalize(tag: &str) -> String {
    tag.trim().trim_start_matches('#').to_lowercase()
}

fn rules() -> &'static [Rule] {
    static RULES: FromConfig<Vec<Rule>> = FromConfig::new();
    RULES.list("rules", |r: RuleConfig| {
        let warning = r.warning.trim().to_string();
        (!warning.is_empty()).then(|| Rule {
            tags: r.tags.iter().map(|t| normalize(t)).collect(),
            warning,
        })
    })
}

/// The warning of the first rule one of `hashtags` matches.
fn warning_for(hashtags: &[String]) -> Option<&'static str> {
    let tags: Vec<String> = hashtags.iter().map(|t| normalize(t)).collect();
    rules()
        .iter()
        .find(|r| r.tags.iter().any(|t| tags.contains(t)))
        .map(|r| r.warning.as_str())
}

struct ContentWarning;

impl Plugin for ContentWarning {
    fn config_schema() -> Vec<ConfigKey> {
        vec![
            ConfigKey::required(
                "rules",
                ConfigType::TableList,
                "the rules, tried in order: the first with a tag of the post gives its warning",
            ),
            ConfigKey::required(
                "rules.tags",
                ConfigType::StringList,
                "hashtags (with or without #, any case) that put a post behind the warning",
            ),
            ConfigKey::required(
                "rules.warning",
                ConfigType::String,
                "the content warning, shown before the post's text",
            ),
        ]
    }

    fn on_outgoing(post: OutgoingPost) -> OutgoingDecision {
        if post.content_warning.is_some() {
            return OutgoingDecision::publish();
        }
        match warning_for(&post.hashtags) {
            Some(warning) => OutgoingDecision {
                content_warning: Some(warning.to_string()),
                ..OutgoingDecision::publish()
            },
            None => OutgoingDecision::publish(),
        }
    }
}

masthead_plugin::register!(ContentWarning);

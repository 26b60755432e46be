//! Write masthead moderation plugins in Rust.
//!
//! A plugin is a `cdylib` crate that implements [`Plugin`] (every hook has a neutral default:
//! accept, count, publish) and names its type in [`register!`]; `cargo build --target
//! wasm32-wasip2 --release` (or `masthead plugin build`) turns it into a component that masthead
//! loads. The types are those of the contract `masthead:plugin@0.1.0` (`wit/v0.1.0/plugin.wit`),
//! with a few constructors added here.
//!
//! ```ignore
//! use masthead_plugin::prelude::*;
//!
//! struct NoCasino;
//!
//! impl Plugin for NoCasino {
//!     fn on_note(event: NoteEvent) -> NoteDecision {
//!         if event.note.text.to_lowercase().contains("casino") {
//!             return NoteDecision::hold("mentions a casino");
//!         }
//!         NoteDecision::accept()
//!     }
//! }
//!
//! masthead_plugin::register!(NoCasino);
//! ```
//!
//! What a plugin may reach is in [`host`]: the log, its config, its key-value store, the clock
//! and read-only lookups of our posts and followers. Nothing else: no files, network or
//! environment.
//!
//! Helpers the example plugins share: [`domains`] (the host of a link, a list of domains that
//! covers their subdomains), [`standing`] (an account's age and followers against thresholds),
//! [`NoteAction`] and [`FollowAction`] (an `action` key read from config, see [`RuleAction`]), [`Phrases`] (whole
//! words), and [`config`]: [`config_table!`] (a flat config table and its schema declared once)
//! and [`config::Settings`] (what a plugin makes of its table: refused at load, parsed once,
//! wired by `register!(P, settings = S)`).

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_masthead_plugin",
        default_bindings_module: "masthead_plugin::bindings",
    });
}

pub mod config;
pub mod domains;
pub mod host;
mod phrases;
pub mod standing;

pub use phrases::{contains_words, Phrases};

pub use bindings::masthead::plugin::types::{
    Action, Attachment, ConfigKey, ConfigType, FollowDecision, FollowEvent, FollowVerdict, Level,
    Note, NoteDecision, NoteEvent, NoteKind, NoteVerdict, OurPost, OutgoingDecision, OutgoingPost,
    OutgoingVerdict, ReactionEvent, ReactionKind, ReactionVerdict, RemoteActor, Rewrite,
    Visibility,
};

/// What a plugin file usually needs.
pub mod prelude {
    pub use crate::config::Settings;
    pub use crate::host;
    pub use crate::host::FromConfig;
    pub use crate::{
        Action, Attachment, ConfigKey, ConfigType, FollowDecision, FollowEvent, FollowVerdict,
        Level, Note, NoteDecision, NoteEvent, NoteKind, NoteVerdict, OurPost, OutgoingDecision,
        OutgoingPost, OutgoingVerdict, Plugin, ReactionEvent, ReactionKind, ReactionVerdict,
        RemoteActor, Rewrite, Visibility,
    };
    pub use crate::{FollowAction, NoteAction, RuleAction};
    pub use serde::Deserialize;
}

/// A masthead plugin: implement the hooks you need, the others keep their neutral answer.
pub trait Plugin {
    /// The keys the plugin accepts in `[plugin.config]`; masthead refuses any other (default:
    /// none).
    fn config_schema() -> Vec<ConfigKey> {
        Vec::new()
    }

    /// Checks what the schema cannot say about the config's values (one of a few words, a
    /// number in a range), reading it with [`host::try_config`]. Run when masthead loads the
    /// plugin, once the keys and types match the schema; an error fails the load with its
    /// message, naming the key (default: nothing to check). See [`config`].
    fn check_config() -> Result<(), String> {
        Ok(())
    }

    /// A remote account asks to follow one of our actors (default: accept).
    fn on_follow(_event: FollowEvent) -> FollowDecision {
        FollowDecision::accept()
    }

    /// A remote post answers or mentions one of our actors (default: accept).
    fn on_note(_event: NoteEvent) -> NoteDecision {
        NoteDecision::accept()
    }

    /// A like, boost or report (default: count).
    fn on_reaction(_event: ReactionEvent) -> ReactionVerdict {
        ReactionVerdict::Count
    }

    /// One of our posts is about to be published (default: publish unchanged).
    fn on_outgoing(_post: OutgoingPost) -> OutgoingDecision {
        OutgoingDecision::publish()
    }
}

/// Exports `$plugin`'s hooks as the component's `masthead:plugin/hooks@0.1.0`.
///
/// `register!(P, settings = S)` is for a plugin whose config is a [`config::Settings`] `S`: the
/// schema is that of `S::Table` and the load-time check parses it (what `P` says in
/// `config_schema` and `check_config` is not used), and `S::current()` gives the instance's
/// settings, parsed once.
#[macro_export]
macro_rules! register {
    (@export $plugin:ty, $schema:expr, $check:expr) => {
        const _: () = {
            struct __MastheadExport;
            impl $crate::bindings::exports::masthead::plugin::hooks::Guest for __MastheadExport {
                fn config_schema() -> ::std::vec::Vec<$crate::ConfigKey> {
                    let schema = $schema();
                    $crate::config::run_check(
                        &schema,
                        &$crate::bindings::masthead::plugin::host::config(),
                        $check,
                    );
                    schema
                }
                fn on_follow(event: $crate::FollowEvent) -> $crate::FollowDecision {
                    <$plugin as $crate::Plugin>::on_follow(event)
                }
                fn on_note(event: $crate::NoteEvent) -> $crate::NoteDecision {
                    <$plugin as $crate::Plugin>::on_note(event)
                }
                fn on_reaction(event: $crate::ReactionEvent) -> $crate::ReactionVerdict {
                    <$plugin as $crate::Plugin>::on_reaction(event)
                }
                fn on_outgoing(post: $crate::OutgoingPost) -> $crate::OutgoingDecision {
                    <$plugin as $crate::Plugin>::on_outgoing(post)
                }
            }
            $crate::bindings::__export_masthead_plugin!(__MastheadExport with_types_in $crate::bindings);
        };
    };
    ($plugin:ty, settings = $settings:ty) => {
        impl $settings {
            /// This instance's settings, parsed from `[plugin.config]` the first time.
            fn current() -> &'static $settings {
                static SETTINGS: $crate::host::FromConfig<$settings> =
                    $crate::host::FromConfig::new();
                SETTINGS.settings()
            }
        }
        $crate::register!(
            @export $plugin,
            <<$settings as $crate::config::Settings>::Table as $crate::config::Table>::schema,
            $crate::config::check::<$settings>
        );
    };
    ($plugin:ty) => {
        $crate::register!(
            @export $plugin,
            <$plugin as $crate::Plugin>::config_schema,
            <$plugin as $crate::Plugin>::check_config
        );
    };
}

impl FollowDecision {
    /// Let them follow.
    pub fn accept() -> Self {
        FollowDecision {
            verdict: FollowVerdict::Accept,
            actions: Vec::new(),
        }
    }

    /// Refuse, saying why (for the operator).
    pub fn reject(reason: impl Into<String>) -> Self {
        FollowDecision {
            verdict: FollowVerdict::Reject(reason.into()),
            actions: Vec::new(),
        }
    }

    /// Keep the request for a person, saying why.
    pub fn hold(reason: impl Into<String>) -> Self {
        FollowDecision {
            verdict: FollowVerdict::Hold(reason.into()),
            actions: Vec::new(),
        }
    }

    /// Adds an action (a label or a note for the operator).
    pub fn with(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }
}

impl NoteDecision {
    /// Keep and show it.
    pub fn accept() -> Self {
        NoteDecision::of(NoteVerdict::Accept)
    }

    /// Drop it, saying why (for the operator).
    pub fn reject(reason: impl Into<String>) -> Self {
        NoteDecision::of(NoteVerdict::Reject(reason.into()))
    }

    /// Keep it out of sight until a person approves it, saying why.
    pub fn hold(reason: impl Into<String>) -> Self {
        NoteDecision::of(NoteVerdict::Hold(reason.into()))
    }

    /// Keep it but never show it publicly, saying why.
    pub fn hide(reason: impl Into<String>) -> Self {
        NoteDecision::of(NoteVerdict::Hide(reason.into()))
    }

    fn of(verdict: NoteVerdict) -> Self {
        NoteDecision {
            verdict,
            actions: Vec::new(),
            rewrites: Vec::new(),
        }
    }

    /// Adds an action: a reply, a label or a note for the operator.
    pub fn with(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// Adds a change to how the note is shown on our pages.
    pub fn rewrite(mut self, rewrite: Rewrite) -> Self {
        self.rewrites.push(rewrite);
        self
    }
}

impl OutgoingDecision {
    /// Publish unchanged.
    pub fn publish() -> Self {
        OutgoingDecision {
            verdict: OutgoingVerdict::Publish,
            content_warning: None,
            markdown: None,
            add_hashtags: Vec::new(),
        }
    }

    /// Hold the post back unpublished, saying why.
    pub fn veto(reason: impl Into<String>) -> Self {
        OutgoingDecision {
            verdict: OutgoingVerdict::Veto(reason.into()),
            ..OutgoingDecision::publish()
        }
    }
}

impl ConfigKey {
    /// A key site.toml must give.
    pub fn required(name: &str, ty: ConfigType, doc: &str) -> Self {
        ConfigKey {
            name: name.into(),
            type_: ty,
            required: true,
            doc: doc.into(),
        }
    }

    /// A key site.toml may give.
    pub fn optional(name: &str, ty: ConfigType, doc: &str) -> Self {
        ConfigKey {
            required: false,
            ..ConfigKey::required(name, ty, doc)
        }
    }
}

/// The value of the config key `key`, one of `choices` by name; the first choice when absent.
/// The error names the key, the choices and what was written.
pub fn one_of<T: Copy>(
    key: &str,
    written: Option<&str>,
    choices: &[(&str, T)],
) -> Result<T, String> {
    let Some(written) = written else {
        return Ok(choices[0].1);
    };
    match choices.iter().find(|(name, _)| *name == written) {
        Some((_, value)) => Ok(*value),
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "`{key}` must be {}, got \"{written}\"",
                names.join(" | ")
            ))
        }
    }
}

/// [`one_of`] with `default` when absent: the choices are named with `default` first, then the
/// others in their order.
fn one_of_or<T: Copy + PartialEq>(
    key: &str,
    written: Option<&str>,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, String> {
    let mut choices = choices.to_vec();
    let at = choices.iter().position(|(_, c)| *c == default).unwrap_or(0);
    choices[..=at].rotate_right(1);
    one_of(key, written, &choices)
}

/// What a rule does to an event it catches, as written under an `action` key: [`NoteAction`]
/// for replies and mentions, [`FollowAction`] for follow requests.
pub trait RuleAction: Copy + PartialEq + 'static {
    /// The decision of the hook the rule answers.
    type Decision;
    /// Every action by the name config gives it, in the order an error lists them.
    const NAMES: &'static [(&'static str, Self)];
    /// The action that keeps the event for a person.
    const HOLD: Self;

    /// The decision that lets the event through.
    fn accept() -> Self::Decision;

    /// The decision this action makes, saying why.
    fn decide(self, why: impl Into<String>) -> Self::Decision;

    /// The action written under `key`, `default` when absent.
    fn parse(key: &str, written: Option<&str>, default: Self) -> Result<Self, String> {
        one_of_or(key, written, Self::NAMES, default)
    }
}

/// What a rule does to a reply or mention it catches, as written in config:
/// `hold` | `reject` | `hide`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteAction {
    Hold,
    Reject,
    Hide,
}

impl RuleAction for NoteAction {
    type Decision = NoteDecision;
    const NAMES: &'static [(&'static str, NoteAction)] = &[
        ("hold", NoteAction::Hold),
        ("reject", NoteAction::Reject),
        ("hide", NoteAction::Hide),
    ];
    const HOLD: NoteAction = NoteAction::Hold;

    fn accept() -> NoteDecision {
        NoteDecision::accept()
    }

    fn decide(self, why: impl Into<String>) -> NoteDecision {
        match self {
            NoteAction::Hold => NoteDecision::hold(why),
            NoteAction::Reject => NoteDecision::reject(why),
            NoteAction::Hide => NoteDecision::hide(why),
        }
    }
}

/// What a rule does to a follow request it catches, as written in config: `hold` | `reject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowAction {
    Hold,
    Reject,
}

impl RuleAction for FollowAction {
    type Decision = FollowDecision;
    const NAMES: &'static [(&'static str, FollowAction)] = &[
        ("hold", FollowAction::Hold),
        ("reject", FollowAction::Reject),
    ];
    const HOLD: FollowAction = FollowAction::Hold;

    fn accept() -> FollowDecision {
        FollowDecision::accept()
    }

    fn decide(self, why: impl Into<String>) -> FollowDecision {
        match self {
            FollowAction::Hold => FollowDecision::hold(why),
            FollowAction::Reject => FollowDecision::reject(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_read_an_action_or_its_default() {
        assert_eq!(
            NoteAction::parse("action", None, NoteAction::Hide),
            Ok(NoteAction::Hide)
        );
        assert_eq!(
            NoteAction::parse("action", Some("reject"), NoteAction::Hold),
            Ok(NoteAction::Reject)
        );
        assert_eq!(
            FollowAction::parse("action", Some("hold"), FollowAction::Reject),
            Ok(FollowAction::Hold)
        );
        assert!(matches!(
            NoteAction::Hide.decide("why").verdict,
            NoteVerdict::Hide(w) if w == "why"
        ));
    }

    #[test]
    fn rejects_an_action_that_is_not_one_of_the_choices() {
        assert_eq!(
            NoteAction::parse("action", Some("delete"), NoteAction::Hide),
            Err("`action` must be hide | hold | reject, got \"delete\"".into())
        );
        assert_eq!(
            FollowAction::parse("action", Some("hide"), FollowAction::Hold),
            Err("`action` must be hold | reject, got \"hide\"".into())
        );
        assert_eq!(
            one_of("when_unknown", Some("Hold"), &[("hold", 1), ("accept", 2)]),
            Err("`when_unknown` must be hold | accept, got \"Hold\"".into())
        );
    }
}

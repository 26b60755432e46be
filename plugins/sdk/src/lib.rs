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

pub mod host;

pub use bindings::masthead::plugin::types::{
    Action, Attachment, ConfigKey, ConfigType, FollowDecision, FollowEvent, FollowVerdict, Level,
    Note, NoteDecision, NoteEvent, NoteKind, NoteVerdict, OurPost, OutgoingDecision, OutgoingPost,
    OutgoingVerdict, ReactionEvent, ReactionKind, ReactionVerdict, RemoteActor, Rewrite,
    Visibility,
};

/// What a plugin file usually needs.
pub mod prelude {
    pub use crate::host;
    pub use crate::{
        Action, Attachment, ConfigKey, ConfigType, FollowDecision, FollowEvent, FollowVerdict,
        Level, Note, NoteDecision, NoteEvent, NoteKind, NoteVerdict, OurPost, OutgoingDecision,
        OutgoingPost, OutgoingVerdict, Plugin, ReactionEvent, ReactionKind, ReactionVerdict,
        RemoteActor, Rewrite, Visibility,
    };
    pub use serde::Deserialize;
}

/// A masthead plugin: implement the hooks you need, the others keep their neutral answer.
pub trait Plugin {
    /// The keys the plugin accepts in `[plugin.config]`; masthead refuses any other (default:
    /// none).
    fn config_schema() -> Vec<ConfigKey> {
        Vec::new()
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
#[macro_export]
macro_rules! register {
    ($plugin:ty) => {
        const _: () = {
            struct __MastheadExport;
            impl $crate::bindings::exports::masthead::plugin::hooks::Guest for __MastheadExport {
                fn config_schema() -> ::std::vec::Vec<$crate::ConfigKey> {
                    <$plugin as $crate::Plugin>::config_schema()
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

/// Whether `phrase` occurs in `text` as whole words, ignoring case: `casino` matches "Casino!"
/// but not "casinos"; `crypto giveaway` matches "a crypto  giveaway" (any run of spaces).
/// `phrase` must already be lowercase. To look for several phrases, build [`Phrases`] once.
pub fn contains_words(text: &str, phrase: &str) -> bool {
    Phrases::new([phrase]).find(text).is_some()
}

/// A list of words and phrases to look for in texts, as whole words and ignoring case, split
/// once; each text is lowercased and split into words once, whatever the number of phrases.
pub struct Phrases {
    phrases: Vec<(String, Vec<String>)>,
}

impl Phrases {
    /// The phrases, lowercased (empty ones are dropped).
    pub fn new<S: AsRef<str>>(list: impl IntoIterator<Item = S>) -> Phrases {
        let phrases = list
            .into_iter()
            .map(|p| p.as_ref().trim().to_lowercase())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let words = p.split_whitespace().map(str::to_string).collect();
                (p, words)
            })
            .collect();
        Phrases { phrases }
    }

    /// The first phrase (in list order) that occurs in `text`.
    pub fn find(&self, text: &str) -> Option<&str> {
        let lower = text.to_lowercase();
        let tokens: Vec<&str> = words(&lower).collect();
        self.phrases
            .iter()
            .find(|(_, phrase)| {
                tokens
                    .windows(phrase.len())
                    .any(|w| w.iter().zip(phrase).all(|(a, b)| *a == b.as_str()))
            })
            .map(|(p, _)| p.as_str())
    }
}

/// The words of `text`: runs of letters and digits (with `'` and `-` inside words).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|t| !t.is_empty())
}

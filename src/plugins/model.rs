//! The host's own model of what plugins are told and what they answer, independent of the
//! contract's version: each `v*` module converts these to and from its generated bindings, so
//! the rest of the host (and `masthead plugin test`'s sample events, which are these types as
//! JSON) never changes when a new contract version is added.

use serde::{Deserialize, Serialize};

// Who may see a note, and one of our posts before it is published: moderation's own plain data.
pub use crate::moderation::{NoteVisibility as Visibility, OutgoingPost};

/// The remote account that sent an event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteActor {
    pub id: String,
    pub domain: String,
    pub handle: Option<String>,
    pub name: Option<String>,
    pub account_age_days: Option<u32>,
    pub follower_count: Option<u32>,
    pub bot: bool,
    pub follows_us: bool,
}

/// One of our posts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OurPost {
    pub actor: String,
    pub slug: String,
    pub url: String,
    pub title: Option<String>,
    pub text: String,
    pub hashtags: Vec<String>,
}

/// A remote post's media.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    pub url: String,
    pub media_type: Option<String>,
    pub description: Option<String>,
}

/// A remote post that answers or mentions one of ours.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Note {
    pub id: String,
    pub url: Option<String>,
    pub text: String,
    pub html: String,
    pub summary: Option<String>,
    pub links: Vec<String>,
    pub mentions: Vec<String>,
    pub hashtags: Vec<String>,
    pub attachments: Vec<Attachment>,
    pub language: Option<String>,
    pub visibility: Visibility,
    pub in_reply_to: Option<String>,
    pub answers: Option<OurPost>,
    pub published: String,
}

/// Reply or mention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteKind {
    #[default]
    Reply,
    Mention,
}

/// Like, boost or report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReactionKind {
    Like,
    Boost,
    Report,
}

/// An event a plugin is asked about: one per hook. (Events are built once per inbox activity and
/// never held in bulk, so the size difference of the variants does not matter.) As JSON (`masthead plugin test --event`),
/// `{"hook": "note", "target": "news", "kind": "reply", "actor": {...}, "note": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hook", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A follow request.
    Follow { actor: RemoteActor, target: String },
    /// A reply or mention.
    Note {
        actor: RemoteActor,
        target: String,
        #[serde(default)]
        kind: NoteKind,
        note: Note,
    },
    /// A like, boost or report.
    Reaction {
        actor: RemoteActor,
        target: String,
        kind: ReactionKind,
        #[serde(default)]
        post: Option<OurPost>,
        #[serde(default)]
        comment: Option<String>,
        #[serde(default)]
        objects: Vec<String>,
    },
    /// One of our posts before it is published.
    Outgoing { post: OutgoingPost },
}

impl Event {
    /// The handle of our actor the event concerns.
    pub fn target(&self) -> &str {
        match self {
            Event::Follow { target, .. }
            | Event::Note { target, .. }
            | Event::Reaction { target, .. } => target,
            Event::Outgoing { post } => &post.actor,
        }
    }

    /// The hook's name, for logs.
    pub fn hook(&self) -> &'static str {
        match self {
            Event::Follow { .. } => "on-follow",
            Event::Note { .. } => "on-note",
            Event::Reaction { .. } => "on-reaction",
            Event::Outgoing { .. } => "on-outgoing",
        }
    }
}

/// A verdict on a follow, a note, a reaction or an outgoing post: the union of what each hook
/// may answer (a follow is never hidden, a reaction only counted, ignored or escalated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "lowercase")]
pub enum Verdict {
    /// Accept a follow or note; count a like or boost; publish a post.
    Accept,
    Reject(String),
    Hold(String),
    Hide(String),
    /// A like, boost or report dropped silently.
    Ignore(String),
    /// A like, boost or report brought to the operator.
    Escalate(String),
    /// An outgoing post held back.
    Veto(String),
}

impl Verdict {
    /// The reason given, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Accept => None,
            Verdict::Reject(r)
            | Verdict::Hold(r)
            | Verdict::Hide(r)
            | Verdict::Ignore(r)
            | Verdict::Escalate(r)
            | Verdict::Veto(r) => Some(r),
        }
    }
}

/// Something done once the final verdict is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "text", rename_all = "lowercase")]
pub enum Action {
    /// Answer as our actor, in Markdown.
    Reply(String),
    /// A label for the operator.
    Label(String),
    /// A note for the operator.
    Note(String),
}

/// A change to how a kept note is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rewrite", content = "text", rename_all = "snake_case")]
pub enum Rewrite {
    StripMedia,
    ContentWarning(String),
}

/// One plugin's answer to one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub rewrites: Vec<Rewrite>,
    /// Outgoing posts only: the content warning to set.
    #[serde(default)]
    pub content_warning: Option<String>,
    /// Outgoing posts only: the Markdown to publish instead.
    #[serde(default)]
    pub markdown: Option<String>,
    /// Outgoing posts only: hashtags to add.
    #[serde(default)]
    pub add_hashtags: Vec<String>,
}

impl Decision {
    /// A bare verdict.
    pub fn of(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            actions: Vec::new(),
            rewrites: Vec::new(),
            content_warning: None,
            markdown: None,
            add_hashtags: Vec::new(),
        }
    }

    /// Bytes of text the decision carries: bounded by the host, so a plugin cannot hand it an
    /// answer of any size.
    pub fn text_bytes(&self) -> usize {
        let action = |a: &Action| match a {
            Action::Reply(t) | Action::Label(t) | Action::Note(t) => t.len(),
        };
        let rewrite = |r: &Rewrite| match r {
            Rewrite::StripMedia => 0,
            Rewrite::ContentWarning(t) => t.len(),
        };
        self.verdict.reason().map_or(0, str::len)
            + self.actions.iter().map(action).sum::<usize>()
            + self.rewrites.iter().map(rewrite).sum::<usize>()
            + self.content_warning.as_ref().map_or(0, String::len)
            + self.markdown.as_ref().map_or(0, String::len)
            + self.add_hashtags.iter().map(String::len).sum::<usize>()
    }
}

/// The type of a config value, as the plugin declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigType {
    String,
    Integer,
    Float,
    Boolean,
    StringList,
    Table,
    TableList,
}

/// One key a plugin accepts in `[plugin.config]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigKey {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ConfigType,
    pub required: bool,
    pub doc: String,
}

//! What moderation judges: an incoming activity as plain data, the remote actor once and what it
//! did ([`EventKind`]); and one of our posts before it is published ([`OutgoingPost`]).
//!
//! This module owns the event types only. It knows neither HTTP, JSON-LD nor the store:
//! `federation::inbox` turns a verified activity into an [`InboxEvent`] and a verdict into store
//! rows. Events are serde data (`{"actor": ..., "event": "follow", "target": ...}`), so a WASM
//! plugin can later judge the same events a built-in rule does. `catalog::outgoing` reads each of
//! our posts into an [`OutgoingPost`] for the plugins' `on-outgoing` hook.

use serde::{Deserialize, Serialize};

/// One incoming activity, read for this site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEvent {
    /// The remote actor who sent it (its signature was verified).
    pub actor: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What the actor did. Our actors are named by handle, remote things by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// `Follow` of our actor `target`.
    Follow { target: String, follow_id: String },
    /// `Undo{Follow}`: by the follow id, and our handle when the Follow was embedded.
    Unfollow {
        target: Option<String>,
        follow_id: String,
    },
    /// `Block` of our actor `target`.
    Block { target: String },
    /// `Like` or `Announce` of one of our posts.
    Interaction {
        activity_id: String,
        kind: Interaction,
        post: PostRef,
    },
    /// `Undo` of the Like or Announce `activity_id` (or of something we do not know yet); its
    /// kind and post when the undone activity was embedded.
    UndoInteraction {
        activity_id: String,
        kind: Option<Interaction>,
        post: Option<PostRef>,
    },
    /// `Create` of a Note replying to or mentioning us.
    Reply { note: ReplyNote },
    /// `Update` of a Note: the note as it is now.
    ReplyEdited { note: ReplyNote },
    /// `Delete` of the Note `object_id`.
    ReplyDeleted { object_id: String },
    /// `Update` of the actor itself (a profile change).
    ActorUpdated,
    /// `Delete` of the actor itself.
    ActorDeleted,
    /// `Move` of the actor to the new account `target`.
    Moved { target: String },
    /// `Flag`: a report of `objects`, with the reporter's comment.
    Report {
        activity_id: String,
        objects: Vec<String>,
        content: Option<String>,
    },
    /// Anything else, kept nowhere; `reason` says why nothing is done.
    Ignored {
        activity_type: String,
        reason: String,
    },
}

/// A `Like` or an `Announce` (boost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interaction {
    Like,
    Announce,
}

/// One of our posts, by handle and slug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRef {
    pub handle: String,
    pub slug: String,
}

/// A reply or mention, as read from a remote Note: its id and page (`url`), its content already
/// sanitized, its times in RFC 3339, the `post` it answers when that is ours, the handles of ours
/// it `mentions` (by tag or addressing), and whether it is addressed to the `public` (else it is
/// kept out of sight).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyNote {
    pub id: String,
    pub url: Option<String>,
    pub content_html: String,
    pub published: String,
    pub updated: Option<String>,
    pub in_reply_to: Option<String>,
    pub post: Option<PostRef>,
    pub mentions: Vec<String>,
    pub public: bool,
    /// What else a rule may look at (a plugin sees all of it).
    #[serde(default)]
    pub details: NoteDetails,
}

/// The parts of a remote note that only rules read: its content warning, language, hashtags,
/// media, everyone it mentions (by actor id, ours or not) and who may see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteDetails {
    pub summary: Option<String>,
    pub language: Option<String>,
    /// Without `#`, lowercase.
    pub hashtags: Vec<String>,
    pub attachments: Vec<NoteAttachment>,
    /// Every `Mention` tag's actor id.
    pub mentioned: Vec<String>,
    pub visibility: NoteVisibility,
}

/// A remote note's media: where it is, its type and its alt text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteAttachment {
    pub url: String,
    pub media_type: Option<String>,
    pub description: Option<String>,
}

/// Who may see a note. A remote note's is read from its addressing: the public collection in
/// `to` (public) or only in `cc` (unlisted), the author's followers collection (followers), or
/// neither (direct); ours is never direct.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteVisibility {
    #[default]
    Public,
    Unlisted,
    Followers,
    Direct,
}

/// One of our posts about to be published, as an `on-outgoing` plugin reviews it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutgoingPost {
    pub actor: String,
    pub slug: String,
    pub title: Option<String>,
    /// The body as its file has it (front matter left out).
    pub markdown: String,
    /// Without `#`.
    pub hashtags: Vec<String>,
    pub content_warning: Option<String>,
    pub visibility: NoteVisibility,
    /// The post's `lang`, else its actor's language, else the site's.
    pub language: String,
    pub in_reply_to: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_carry_the_actor_once_beside_the_event() {
        let event = InboxEvent {
            actor: "https://ok.example/users/friend".into(),
            kind: EventKind::Follow {
                target: "news".into(),
                follow_id: "https://ok.example/f/1".into(),
            },
        };
        let v = serde_json::to_value(&event).unwrap();
        assert_eq!(v["actor"], "https://ok.example/users/friend");
        assert_eq!(v["event"], "follow");
        assert_eq!(v["target"], "news");
        assert_eq!(serde_json::from_value::<InboxEvent>(v).unwrap(), event);
        let deleted = InboxEvent {
            actor: "https://ok.example/users/gone".into(),
            kind: EventKind::ActorDeleted,
        };
        let v = serde_json::to_value(&deleted).unwrap();
        assert_eq!(v["event"], "actor_deleted");
        assert_eq!(serde_json::from_value::<InboxEvent>(v).unwrap(), deleted);
    }
}

//! Reading a verified activity as an [`InboxEvent`]: what it means for this site, as plain data
//! that moderation judges. JSON-LD's many spellings (embedded objects or ids, one value or a
//! list, `content` or `contentMap`) end here; our actors and posts are named by handle and slug.
//!
//! It changes nothing; only a `Create` or `Update` whose object is a bare URL needs the network.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Inbox, JobError};
use crate::federation::fetch::{id_of, safe_remote_url, same_origin};
use crate::moderation::{
    EventKind, InboxEvent, Interaction, NoteAttachment, NoteDetails, NoteVisibility, PostRef,
    ReplyNote,
};

/// The ActivityStreams public collection, in the spellings servers use.
const PUBLIC: [&str; 3] = [
    "https://www.w3.org/ns/activitystreams#Public",
    "as:Public",
    "Public",
];

/// Reads what `activity` (verified as sent by `actor`) means for this site.
pub async fn interpret(
    inbox: &Inbox,
    actor: &str,
    activity: &Value,
) -> Result<InboxEvent, JobError> {
    let kind = interpret_kind(inbox, actor, activity).await?;
    Ok(InboxEvent {
        actor: actor.to_string(),
        kind,
    })
}

async fn interpret_kind(
    inbox: &Inbox,
    actor: &str,
    activity: &Value,
) -> Result<EventKind, JobError> {
    let kind = activity.get("type").and_then(Value::as_str).unwrap_or("");
    let id = activity.get("id").and_then(Value::as_str).unwrap_or("");
    let object = activity.get("object").unwrap_or(&Value::Null);
    let object_id = id_of(object).unwrap_or("");
    let ignored = |reason: &str| EventKind::Ignored {
        activity_type: kind.to_string(),
        reason: reason.to_string(),
    };
    Ok(match kind {
        "Follow" => match our_actor(inbox, object_id) {
            Some(target) => EventKind::Follow {
                target,
                follow_id: id.to_string(),
            },
            None => ignored("not a follow of one of our actors"),
        },
        "Block" => match our_actor(inbox, object_id) {
            Some(target) => EventKind::Block { target },
            None => ignored("not a block of one of our actors"),
        },
        "Like" | "Announce" => match (our_post(inbox, object_id), interaction(Some(kind))) {
            (Some(post), Some(kind)) => EventKind::Interaction {
                activity_id: id.to_string(),
                kind,
                post,
            },
            _ => ignored("not about one of our posts"),
        },
        "Undo" => {
            let inner_type = object.get("type").and_then(Value::as_str);
            let inner_object = object.get("object").and_then(id_of).unwrap_or("");
            // One may only undo one's own activity.
            if object
                .get("actor")
                .and_then(id_of)
                .is_some_and(|a| a != actor)
            {
                return Ok(ignored("undo of another actor's activity"));
            }
            match inner_type {
                Some("Follow") => EventKind::Unfollow {
                    target: our_actor(inbox, inner_object),
                    follow_id: object_id.to_string(),
                },
                Some("Like") | Some("Announce") | None => EventKind::UndoInteraction {
                    activity_id: object_id.to_string(),
                    kind: interaction(inner_type),
                    post: our_post(inbox, inner_object),
                },
                Some(_) => ignored("undo of something masthead does not keep"),
            }
        }
        "Create" | "Update" => {
            if kind == "Update" && object_id == actor {
                return Ok(EventKind::ActorUpdated);
            }
            // An embedded object is taken as sent only from its own origin; anything else is
            // fetched from where its id says it lives.
            let note = if object.is_object() && same_origin(object_id, actor) {
                object.clone()
            } else {
                inbox.fetcher.object(object_id).await?
            };
            let note_type = note.get("type").and_then(Value::as_str).unwrap_or("");
            if !matches!(note_type, "Note" | "Article" | "Page" | "Question") {
                return Ok(ignored("not a note"));
            }
            if note.get("attributedTo").and_then(id_of) != Some(actor)
                || id_of(&note) != Some(object_id)
                || !same_origin(object_id, actor)
            {
                return Ok(ignored("note not written by its sender"));
            }
            let note = read_note(inbox, &note);
            if kind == "Update" {
                EventKind::ReplyEdited { note }
            } else if note.post.is_some() || !note.mentions.is_empty() {
                EventKind::Reply { note }
            } else {
                ignored("neither a reply to our posts nor a mention of our actors")
            }
        }
        "Delete" => {
            if object_id == actor {
                EventKind::ActorDeleted
            } else {
                EventKind::ReplyDeleted {
                    object_id: object_id.to_string(),
                }
            }
        }
        "Move" => {
            let target = activity.get("target").and_then(id_of).unwrap_or("");
            if object_id != actor || safe_remote_url(target, inbox.site.dev.allow_http).is_none() {
                ignored("a Move must move its own actor to a target")
            } else {
                EventKind::Moved {
                    target: target.to_string(),
                }
            }
        }
        "Flag" => EventKind::Report {
            activity_id: id.to_string(),
            objects: ids(Some(object)),
            content: activity
                .get("content")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        "Accept" | "Reject" => ignored("masthead follows nobody"),
        _ => ignored("unknown activity type"),
    })
}

fn interaction(activity_type: Option<&str>) -> Option<Interaction> {
    match activity_type {
        Some("Like") => Some(Interaction::Like),
        Some("Announce") => Some(Interaction::Announce),
        _ => None,
    }
}

/// The ids of a value that is one object or id, or a list of them.
fn ids(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(list)) => list.iter().filter_map(id_of).map(str::to_string).collect(),
        Some(v) => id_of(v).map(str::to_string).into_iter().collect(),
        None => vec![],
    }
}

fn read_note(inbox: &Inbox, note: &Value) -> ReplyNote {
    let addressed: Vec<String> = [ids(note.get("to")), ids(note.get("cc"))].concat();
    let mut mentions: Vec<String> = Vec::new();
    let tags = match note.get("tag") {
        Some(Value::Array(list)) => list.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    let mentioned = tags
        .iter()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("Mention"))
        .filter_map(|t| t.get("href").and_then(Value::as_str))
        .chain(addressed.iter().map(String::as_str));
    for href in mentioned {
        if let Some(h) = our_actor(inbox, href) {
            if !mentions.contains(&h) {
                mentions.push(h);
            }
        }
    }
    let in_reply_to = note.get("inReplyTo").and_then(id_of).map(str::to_string);
    let content = note
        .get("content")
        .and_then(Value::as_str)
        .or_else(|| {
            note.get("contentMap")
                .and_then(Value::as_object)
                .and_then(|m| m.values().find_map(Value::as_str))
        })
        .unwrap_or_default();
    let allow_http = inbox.site.dev.allow_http;
    let url = match note.get("url") {
        Some(Value::Array(list)) => list.iter().find_map(id_of),
        Some(v) => id_of(v),
        None => None,
    };
    ReplyNote {
        id: id_of(note).unwrap_or_default().to_string(),
        url: url.and_then(|u| safe_remote_url(u, allow_http)),
        content_html: crate::content::render::sanitize_remote(content),
        published: utc_time(note, "published").unwrap_or_else(|| inbox.now_rfc3339()),
        updated: utc_time(note, "updated"),
        post: in_reply_to.as_deref().and_then(|r| our_post(inbox, r)),
        // Ours or another server's: kept only as an http(s) URL.
        in_reply_to: in_reply_to.filter(|r| safe_remote_url(r, true).is_some()),
        mentions,
        public: addressed.iter().any(|a| PUBLIC.contains(&a.as_str())),
        details: note_details(note, &tags, allow_http),
    }
}

/// What rules read besides the text: content warning, language, hashtags, media, every mention,
/// and the visibility its addressing says.
fn note_details(note: &Value, tags: &[Value], allow_http: bool) -> NoteDetails {
    let text = |key: &str| {
        note.get(key)
            .and_then(Value::as_str)
            .map(crate::content::render::sanitize_remote)
            .filter(|s| !s.is_empty())
    };
    let of_type = |t: &&Value, kind: &str| t.get("type").and_then(Value::as_str) == Some(kind);
    let to = ids(note.get("to"));
    let cc = ids(note.get("cc"));
    let public = |list: &[String]| list.iter().any(|a| PUBLIC.contains(&a.as_str()));
    let visibility = if public(&to) {
        NoteVisibility::Public
    } else if public(&cc) {
        NoteVisibility::Unlisted
    } else if to.iter().chain(&cc).any(|a| a.ends_with("/followers")) {
        NoteVisibility::Followers
    } else {
        NoteVisibility::Direct
    };
    let attachments = match note.get("attachment") {
        Some(Value::Array(list)) => list.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    NoteDetails {
        summary: text("summary"),
        language: note
            .get("contentMap")
            .and_then(Value::as_object)
            .and_then(|m| m.keys().next().cloned())
            .filter(|l| l.len() <= 35),
        hashtags: tags
            .iter()
            .filter(|t| of_type(t, "Hashtag"))
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .map(|n| n.trim_start_matches('#').to_lowercase())
            .collect(),
        attachments: attachments
            .iter()
            .filter_map(|a| {
                let url = match a.get("url") {
                    Some(Value::Array(list)) => list.iter().find_map(id_of),
                    Some(v) => id_of(v),
                    None => None,
                }?;
                Some(NoteAttachment {
                    url: safe_remote_url(url, allow_http)?,
                    media_type: a
                        .get("mediaType")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    description: a.get("name").and_then(Value::as_str).map(str::to_string),
                })
            })
            .collect(),
        mentioned: tags
            .iter()
            .filter(|t| of_type(t, "Mention"))
            .filter_map(|t| t.get("href").and_then(Value::as_str))
            .filter_map(|h| safe_remote_url(h, allow_http))
            .collect(),
        visibility,
    }
}

/// The RFC 3339 time at `key`, in UTC.
fn utc_time(note: &Value, key: &str) -> Option<String> {
    note.get(key)
        .and_then(Value::as_str)
        .and_then(|p| DateTime::parse_from_rfc3339(p).ok())
        .map(|d| d.with_timezone(&Utc).to_rfc3339())
}

/// The handle of our actor with this id.
fn our_actor(inbox: &Inbox, id: &str) -> Option<String> {
    inbox
        .site
        .actors
        .iter()
        .find(|a| inbox.urls.actor(&a.handle) == id)
        .map(|a| a.handle.clone())
}

/// Our published post with this id or `url`.
fn our_post(inbox: &Inbox, id: &str) -> Option<PostRef> {
    if id.is_empty() {
        return None;
    }
    let catalog = inbox.catalog();
    let (handle, rec) = catalog.public_post_by_url(&inbox.urls, id)?;
    // An actor taken out of site.toml keeps its posts in a snapshot until the next build.
    inbox.site.actor(handle)?;
    Some(PostRef {
        handle: handle.to_string(),
        slug: rec.post.slug.to_string(),
    })
}

//! Applying a judged event: the verdict becomes store rows (followers, interactions, replies,
//! reports), comments files noted for writing once per batch, and answers (Accept, Reject) queued for delivery.
//!
//! Events name our posts by handle and slug and carry moderation's own types; they become store
//! rows here, at the edge. Nothing is sent from here: answers are delivery rows, due by the clock.

use std::collections::HashMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Inbox, JobError};
use crate::clock::Clock;
use crate::federation::comments;
use crate::federation::fetch::id_of;
use crate::moderation::{EventKind, InboxEvent, Interaction, NoteVisibility, ReplyNote, Verdict};
use crate::plugins::{Judgement, Verdict as PluginVerdict};
use crate::store::{
    AutoReply, FollowState, Follower, HeldBy, Hold, InteractionChange, InteractionKind,
    NewDelivery, Reply, ReplyStatus, Report, Store, StoreError,
};
use crate::urls::Urls;

/// Applies one judged event. The comments files it changes are noted in `comments`, written
/// once per post when the batch of jobs is done; its likes and boosts go to `interactions`,
/// written in order with the outcomes of the batch (one commit for a batch of Likes).
pub(super) async fn apply(
    inbox: &Inbox,
    activity: &Value,
    event: InboxEvent,
    verdict: Verdict,
    judgement: Option<Judgement>,
    comments: &mut CommentChanges,
    interactions: &mut Vec<InteractionChange>,
) -> Result<(), JobError> {
    let InboxEvent { actor, kind } = event;
    let judgement = judgement.unwrap_or_else(Judgement::accept);
    if let Verdict::Reject { reason } = &verdict {
        tracing::info!(actor = %actor, reason = %reason, "refused by moderation");
        if let EventKind::Follow { target, follow_id } = &kind {
            let follower = inbox.fetcher.actor(&inbox.store, &actor, false).await?;
            let body = follow_response(
                &inbox.urls,
                target,
                FollowAnswer::Reject,
                follow_id,
                &actor,
                activity.get("object").map(|_| activity),
            );
            enqueue(inbox, target, &body, &follower.inbox)?;
        }
        return Ok(());
    }
    let store = &inbox.store;
    match kind {
        EventKind::Follow { target, follow_id } => {
            let follower = inbox.fetcher.actor(store, &actor, false).await?;
            let manual = inbox
                .site
                .actor(&target)
                .is_some_and(|a| a.manually_approves_followers);
            keep_marks(inbox, &follow_id, &judgement);
            let hold = follow_hold(&verdict, &judgement, &target, manual);
            store.upsert_follower(&Follower {
                actor: target.clone(),
                follower: actor.clone(),
                follow_id: follow_id.clone(),
                inbox: follower.inbox.clone(),
                shared_inbox: follower.shared_inbox.clone(),
                state: if hold.is_some() {
                    FollowState::Pending
                } else {
                    FollowState::Accepted
                },
                created_at: String::new(),
                hold,
            })?;
            // A repeated Follow of an accepted follow is answered again: the sender lost our
            // first Accept, or would not have asked.
            let now = store.follower(&target, &actor)?.map(|f| f.state);
            if now == Some(FollowState::Accepted) {
                let body = follow_response(
                    &inbox.urls,
                    &target,
                    FollowAnswer::Accept,
                    &follow_id,
                    &actor,
                    Some(activity),
                );
                enqueue(inbox, &target, &body, &follower.inbox)?;
            } else {
                tracing::info!(actor = %target, follower = %actor, "follow waits in `masthead queue`");
            }
        }
        EventKind::Unfollow { target, follow_id } => {
            let removed = match target {
                Some(t) => store.remove_follower(&t, &actor)?,
                None => store.remove_follow_by_id(&actor, &follow_id)? > 0,
            };
            tracing::info!(follower = %actor, removed, "unfollow");
        }
        EventKind::Block { target } => {
            store.remove_follower(&target, &actor)?;
        }
        EventKind::Interaction {
            activity_id,
            kind,
            post,
        } => {
            if let PluginVerdict::Escalate(reason) = &judgement.verdict {
                tracing::warn!(actor = %actor, activity = %activity_id, plugins = %judgement.by.join(", "), reason = %reason, "interaction escalated by a plugin");
            }
            interactions.push(InteractionChange::Add {
                activity_id,
                kind: stored(kind),
                actor,
                post_actor: post.handle,
                post_slug: post.slug,
            });
        }
        EventKind::UndoInteraction {
            activity_id,
            kind,
            post,
        } => {
            interactions.push(InteractionChange::Undo {
                activity_id,
                actor,
                of: kind.zip(post).map(|(k, p)| (stored(k), p.handle, p.slug)),
            });
        }
        EventKind::Reply { note } => {
            let post = note.post.clone();
            let (status, hold) = match reply_hold(&verdict, &judgement, note.public) {
                Some((status, hold)) => (status, Some(hold)),
                None => (ReplyStatus::Visible, None),
            };
            keep_marks(inbox, &note.id, &judgement);
            // Answers only what no rule holds back (a question sent directly is answered
            // directly, though it is never shown on our pages).
            if verdict == Verdict::Accept && plugin_hold(&judgement).is_none() {
                for (plugin, markdown) in &judgement.replies {
                    if let Err(e) = queue_auto_reply(inbox, &actor, &note, plugin, markdown).await {
                        tracing::error!(plugin = %plugin, note = %note.id, error = %e, "cannot queue the auto-reply");
                    }
                }
            }
            let id = note.id.clone();
            // A Create repeated for a stored reply changes it in place: its file is rewritten.
            let repeat = store.reply(&id)?.is_some();
            store.upsert_reply(&Reply {
                id: note.id,
                author: actor.clone(),
                post: note.post.map(|p| (p.handle, p.slug)),
                mentions: note.mentions,
                in_reply_to: note.in_reply_to,
                content_html: note.content_html,
                url: note.url,
                published: note.published,
                updated: note.updated,
                status,
                public: note.public,
                hold,
            })?;
            // Cache the author for the comment's name and avatar.
            if store.remote_actor(&actor)?.is_none() {
                inbox.fetcher.actor(store, &actor, false).await?;
            }
            match post {
                Some(p) if repeat => comments.changed(p.handle, p.slug),
                Some(p) => comments.appended(p.handle, p.slug, id),
                None => {}
            }
        }
        EventKind::ReplyEdited { note } => {
            let updated = note.updated.clone().unwrap_or_else(|| inbox.now_rfc3339());
            if store.update_reply(&note.id, &actor, &note.content_html, &updated)? {
                // An edit a rule holds takes the reply out of sight.
                if let Some((status, hold)) = reply_hold(&verdict, &judgement, true) {
                    store.hold_reply(&note.id, &actor, status, &hold)?;
                    keep_marks(inbox, &note.id, &judgement);
                }
                if let Some((h, s)) = store.reply(&note.id)?.and_then(|r| r.post) {
                    comments.changed(h, s);
                }
            }
        }
        EventKind::ReplyDeleted { object_id } => {
            if let Some((h, s)) = store.delete_reply(&object_id, &actor)?.and_then(|r| r.post) {
                comments.changed(h, s);
            }
        }
        EventKind::ActorUpdated => {
            inbox.fetcher.actor(store, &actor, true).await?;
        }
        EventKind::ActorDeleted => {
            store.remove_follower_everywhere(&actor)?;
            interactions.push(InteractionChange::RemoveBy {
                actor: actor.clone(),
            });
            for (h, s) in store.delete_replies_by(&actor)? {
                comments.changed(h, s);
            }
            store.delete_remote_actor(&actor)?;
            tracing::info!(actor = %actor, "remote actor deleted");
        }
        EventKind::Moved { target } => {
            // Judged before anything about the target is kept: fetched, not cached, until its
            // alsoKnownAs names the mover (blocks were judged before it was fetched at all).
            let new = inbox.fetcher.fetch_actor(&target).await?;
            let doc: Value = serde_json::from_str(&new.document).unwrap_or_default();
            let aka: Vec<&str> = match doc.get("alsoKnownAs") {
                Some(Value::Array(list)) => list.iter().filter_map(id_of).collect(),
                Some(v) => id_of(v).into_iter().collect(),
                None => vec![],
            };
            if !aka.contains(&actor.as_str()) {
                return Err(JobError::fatal(format!(
                    "Move of {actor} to {target} refused: the target's alsoKnownAs does not name {actor}"
                )));
            }
            store.upsert_remote_actor(&new)?;
            let moved =
                store.move_follower(&actor, &new.id, &new.inbox, new.shared_inbox.as_deref())?;
            tracing::info!(from = %actor, to = %new.id, moved, "follower moved");
        }
        EventKind::Report {
            activity_id,
            objects,
            content,
        } => {
            store.add_report(&Report {
                id: activity_id,
                reporter: actor,
                objects,
                content,
                received_at: inbox.now_rfc3339(),
            })?;
        }
        EventKind::Ignored {
            activity_type,
            reason,
        } => {
            tracing::debug!(actor = %actor, activity_type = %activity_type, reason = %reason, "activity ignored");
        }
    }
    Ok(())
}

/// The hold the plugins asked for, if any, with the status it gives a reply: a hold or an
/// escalation waits in the queue, a hide is kept but never shown.
fn plugin_hold(judgement: &Judgement) -> Option<(ReplyStatus, Hold)> {
    let by = || HeldBy::Plugin(judgement.by.join(", "));
    match &judgement.verdict {
        PluginVerdict::Hold(r) | PluginVerdict::Escalate(r) => {
            Some((ReplyStatus::Held, Hold::new(by(), r.clone())))
        }
        PluginVerdict::Hide(r) => Some((ReplyStatus::Hidden, Hold::new(by(), r.clone()))),
        _ => None,
    }
}

/// Keeps the labels and notes plugins attached to `item`.
fn keep_marks(inbox: &Inbox, item: &str, judgement: &Judgement) {
    for (plugin, label) in &judgement.labels {
        mark(inbox, item, plugin, "label", label);
    }
    for (plugin, note) in &judgement.notes {
        mark(inbox, item, plugin, "note", note);
    }
}

fn mark(inbox: &Inbox, item: &str, plugin: &str, kind: &str, text: &str) {
    if let Err(e) = inbox
        .store
        .add_plugin_mark(item, plugin, kind, text, inbox.clock.now_ms())
    {
        tracing::error!(item = %item, plugin = %plugin, error = %e, "cannot keep a plugin's label or note");
    }
}

/// Queues `markdown` as our actor's answer to `note` (by `author`), threaded under it, for
/// delivery to the author. Never more visible than the question: a public note gets a public
/// answer, an unlisted one an unlisted answer, a followers-only or direct one a direct answer.
/// The id is stable per note and plugin, so a redelivered note is answered once.
async fn queue_auto_reply(
    inbox: &Inbox,
    author: &str,
    note: &ReplyNote,
    plugin: &str,
    markdown: &str,
) -> Result<(), JobError> {
    let handle = match (&note.post, note.mentions.first()) {
        (Some(p), _) => p.handle.clone(),
        (None, Some(h)) => h.clone(),
        (None, None) => return Ok(()),
    };
    let remote = inbox.fetcher.actor(&inbox.store, author, false).await?;
    let ours = inbox.urls.actor(&handle);
    let hash: String = Sha256::digest(format!("{plugin}\n{}", note.id).as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let id = inbox.urls.auto_reply(&handle, &hash);
    let html = crate::content::render_profile_summary(&inbox.urls, &inbox.site.root, markdown, &id);
    let mention_name = remote
        .handle
        .as_deref()
        .map(|h| format!("@{h}"))
        .unwrap_or_else(|| author.to_string());
    let public = "https://www.w3.org/ns/activitystreams#Public";
    let (to, cc) = match note.details.visibility {
        NoteVisibility::Public => (json!([public]), json!([author])),
        NoteVisibility::Unlisted => (json!([author]), json!([public])),
        NoteVisibility::Followers | NoteVisibility::Direct => (json!([author]), json!([])),
    };
    let now = inbox.now_rfc3339();
    let object = json!({
        "id": id,
        "type": "Note",
        "attributedTo": ours,
        "inReplyTo": note.id,
        "content": html,
        "published": now,
        "to": to,
        "cc": cc,
        "tag": [{ "type": "Mention", "href": author, "name": mention_name }],
    });
    let body = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{id}/activity"),
        "type": "Create",
        "actor": ours,
        "published": now,
        "to": to,
        "cc": cc,
        "object": object,
    });
    let target = remote
        .shared_inbox
        .clone()
        .filter(|_| note.details.visibility == NoteVisibility::Public)
        .unwrap_or(remote.inbox.clone());
    // Kept to be served at its id (a public or unlisted answer) and sent in one transaction,
    // once: a note delivered again is not answered again.
    let reply = AutoReply {
        id: id.clone(),
        actor: handle.clone(),
        addressee: author.to_string(),
        public: matches!(
            note.details.visibility,
            NoteVisibility::Public | NoteVisibility::Unlisted
        ),
        object: object.to_string(),
        created_at: inbox.clock.now_ms(),
    };
    let activity_id = format!("{id}/activity");
    let delivery = NewDelivery {
        activity_id: &activity_id,
        object_id: None,
        actor: &handle,
        body: &body.to_string(),
    };
    if !inbox.store.send_auto_reply(&reply, &delivery, &[target])? {
        tracing::info!(plugin = %plugin, note = %note.id, reply = %id, "already answered; not sent again");
        return Ok(());
    }
    inbox.delivery_wake.notify_one();
    tracing::info!(plugin = %plugin, note = %note.id, reply = %id, "auto-reply queued");
    Ok(())
}

/// Why a reply is kept out of sight, if it is, and its status: a reply that is not public is
/// never shown (a person may read it in the queue, but approving it cannot publish it), else the
/// verdict's hold, else the plugins' hold or hide.
fn reply_hold(
    verdict: &Verdict,
    judgement: &Judgement,
    public: bool,
) -> Option<(ReplyStatus, Hold)> {
    if !public {
        let hold = Hold::new(
            HeldBy::Moderation,
            "not public (sent directly or to followers only)",
        );
        return Some((ReplyStatus::Held, hold));
    }
    match verdict {
        Verdict::Hold { reason } => Some((
            ReplyStatus::Held,
            Hold::new(HeldBy::Moderation, reason.clone()),
        )),
        _ => plugin_hold(judgement),
    }
}

/// Why a follow of our actor `target` waits in the moderation queue, if it does: the verdict's
/// hold, else a plugin's, else the actor approving its followers by hand.
fn follow_hold(
    verdict: &Verdict,
    judgement: &Judgement,
    target: &str,
    manual: bool,
) -> Option<Hold> {
    match verdict {
        Verdict::Hold { reason } => Some(Hold::new(HeldBy::Moderation, reason.clone())),
        _ => plugin_hold(judgement).map(|(_, hold)| hold).or_else(|| {
            manual.then(|| {
                Hold::new(
                    HeldBy::ManualApproval,
                    format!("{target} approves its followers by hand"),
                )
            })
        }),
    }
}

fn stored(kind: Interaction) -> InteractionKind {
    match kind {
        Interaction::Like => InteractionKind::Like,
        Interaction::Announce => InteractionKind::Announce,
    }
}

/// The comments files some jobs changed: each is written once when they are done, by appending
/// the new replies when that is all that changed (see [`comments::append_to_file`]). A worker
/// gathers the changes of several batches into one while replies keep coming (see `worker`), so
/// a busy post's file is written far less often than it gets replies.
#[derive(Debug, Default)]
pub(super) struct CommentChanges {
    posts: HashMap<(String, String), Change>,
}

#[derive(Debug)]
enum Change {
    /// Only these replies were added.
    Append(Vec<String>),
    /// Something was edited or removed: the whole file is rewritten.
    Rewrite,
}

impl CommentChanges {
    /// A reply `id` to our post `handle`/`slug` was stored.
    fn appended(&mut self, handle: String, slug: String, id: String) {
        let change = self
            .posts
            .entry((handle, slug))
            .or_insert_with(|| Change::Append(Vec::new()));
        if let Change::Append(ids) = change {
            ids.push(id);
        }
    }

    /// A reply to our post `handle`/`slug` was edited or removed.
    fn changed(&mut self, handle: String, slug: String) {
        self.posts.insert((handle, slug), Change::Rewrite);
    }

    /// Whether no file needs writing.
    pub(super) fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }

    /// Takes in the changes of jobs applied after these: new replies add up, and a post to be
    /// rewritten stays so (a rewrite reads every row when it is written, later ones included).
    pub(super) fn absorb(&mut self, later: CommentChanges) {
        for (post, change) in later.posts {
            match (self.posts.get_mut(&post), change) {
                (Some(Change::Append(ids)), Change::Append(more)) => ids.extend(more),
                (Some(Change::Rewrite), _) => {}
                (_, change) => {
                    self.posts.insert(post, change);
                }
            }
        }
    }

    /// Writes every changed file; a failure is logged (the rows are kept, and the next change
    /// to that post rewrites its file). Returns what it cost.
    pub(super) fn write(self, inbox: &Inbox) -> comments::Written {
        let mut cost = comments::Written::default();
        let _one_writer = inbox
            .comments_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let dir = &inbox.site.data_dir;
        for ((handle, slug), change) in self.posts {
            let written = match change {
                Change::Append(ids) => {
                    comments::append_to_file(&inbox.store, dir, &handle, &slug, &ids)
                }
                Change::Rewrite => comments::write_file(&inbox.store, dir, &handle, &slug),
            };
            match written {
                Ok(w) => cost.rows_read += w.rows_read,
                Err(e) => {
                    tracing::error!(actor = %handle, slug = %slug, error = %e, "cannot write the comments file")
                }
            }
        }
        cost
    }
}

fn enqueue(inbox: &Inbox, handle: &str, body: &Value, to: &str) -> Result<(), StoreError> {
    enqueue_in(&inbox.store, &inbox.clock, handle, body, to)?;
    inbox.delivery_wake.notify_one();
    Ok(())
}

fn enqueue_in(
    store: &Store,
    clock: &Clock,
    handle: &str,
    body: &Value,
    inbox: &str,
) -> Result<(), StoreError> {
    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
    store.enqueue_delivery(
        &NewDelivery {
            activity_id: id,
            object_id: None,
            actor: handle,
            body: &body.to_string(),
        },
        &[inbox.to_string()],
        clock.now_ms(),
    )?;
    Ok(())
}

/// How we answer a Follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowAnswer {
    Accept,
    Reject,
}

/// The `Accept` or `Reject` of a Follow by our actor `handle`. Its id is stable
/// (`<actor>#accepts/<hash of the follow id>`), so a repeat is deduplicated by the receiver and by
/// the delivery queue. The object is the Follow as received when there is one (without its
/// `@context`), else a Follow rebuilt from its id, which is what receivers match on.
pub fn follow_response(
    urls: &Urls,
    handle: &str,
    answer: FollowAnswer,
    follow_id: &str,
    follower: &str,
    received: Option<&Value>,
) -> Value {
    let ours = urls.actor(handle);
    let hash: String = Sha256::digest(follow_id.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let (kind, fragment) = match answer {
        FollowAnswer::Accept => ("Accept", "accepts"),
        FollowAnswer::Reject => ("Reject", "rejects"),
    };
    let object = match received {
        Some(Value::Object(map)) if map.get("type").and_then(Value::as_str) == Some("Follow") => {
            let mut map = map.clone();
            map.remove("@context");
            Value::Object(map)
        }
        _ => json!({ "id": follow_id, "type": "Follow", "actor": follower, "object": ours }),
    };
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{ours}#{fragment}/{hash}"),
        "type": kind,
        "actor": ours,
        "to": [follower],
        "object": object,
    })
}

/// Queues the answer to a stored follow (`masthead approve|reject`), due at `clock`'s now:
/// Accept marks it accepted, Reject removes it. The delivery workers of a running server pick it
/// up.
pub fn answer_stored_follow(
    store: &Store,
    urls: &Urls,
    clock: &Clock,
    follow: &Follower,
    answer: FollowAnswer,
) -> Result<Value, StoreError> {
    let body = follow_response(
        urls,
        &follow.actor,
        answer,
        &follow.follow_id,
        &follow.follower,
        None,
    );
    enqueue_in(store, clock, &follow.actor, &body, &follow.inbox)?;
    match answer {
        FollowAnswer::Accept => {
            store.set_follow_state(&follow.actor, &follow.follower, FollowState::Accepted)?;
        }
        FollowAnswer::Reject => {
            store.remove_follower(&follow.actor, &follow.follower)?;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080";

    #[test]
    fn can_answer_a_follow_with_a_stable_id() {
        let urls = Urls::from_parts(&url::Url::parse(BASE).unwrap(), None);
        let follow = json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": "https://r.example/f/1", "type": "Follow",
            "actor": "https://r.example/users/a", "object": "http://127.0.0.1:8080/users/news",
        });
        let a = follow_response(
            &urls,
            "news",
            FollowAnswer::Accept,
            "https://r.example/f/1",
            "https://r.example/users/a",
            Some(&follow),
        );
        let b = follow_response(
            &urls,
            "news",
            FollowAnswer::Accept,
            "https://r.example/f/1",
            "https://r.example/users/a",
            None,
        );
        assert_eq!(a["id"], b["id"]);
        assert!(a["id"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:8080/users/news#accepts/"));
        assert_eq!(a["object"]["id"], "https://r.example/f/1");
        assert!(a["object"].get("@context").is_none());
        assert_eq!(b["object"]["object"], "http://127.0.0.1:8080/users/news");
        let r = follow_response(
            &urls,
            "news",
            FollowAnswer::Reject,
            "https://r.example/f/1",
            "https://r.example/users/a",
            None,
        );
        assert_eq!(r["type"], "Reject");
        assert_ne!(r["id"], a["id"]);
    }
}

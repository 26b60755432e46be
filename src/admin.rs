//! What the operator does from the command line about incoming federation: the moderation queue
//! (`masthead queue`, `approve`, `reject`: held replies, mentions and follows, with who held them
//! and why), the older spellings of its follow part (`masthead follows pending|approve|reject`),
//! replies (`masthead replies`), reports (`masthead reports`), and what the store holds about
//! one remote person, shown or forgotten (`masthead people show|forget`).
//!
//! Each command is a library function over the site and its store, so that tests call the same
//! code as the command line; printing for people is the commands' own (`crate::commands`).
//! Every decision goes through [`decide`] or [`answer_follow`], which share the follow answer.
//! Approving or rejecting a follow queues the Accept or Reject in the delivery queue; a running
//! server's delivery workers send it (they poll the queue, so the CLI and the server need not
//! talk). Deciding on a reply to one of our posts rewrites that post's comments file; pages and
//! collections read the store on every request.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Site};
use crate::federation::comments::{self, CommentsError};
use crate::federation::inbox::{answer_stored_follow, follow_response, FollowAnswer};
use crate::store::{
    FollowState, Follower, Forgotten, Parting, PersonData, Queued, Reply, ReplyStatus, Report,
    Store, StoreError,
};
use crate::urls::Urls;

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// site.toml is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--actor` names no actor of this site.
    #[error("no actor {0:?} in site.toml (use one of its handles)")]
    UnknownActor(String),
    /// No pending follow matches.
    #[error("no pending follow by {follower}{} (list them with `masthead follows pending`)", .actor.as_ref().map(|a| format!(" of {a}")).unwrap_or_default())]
    NoSuchFollow {
        follower: String,
        actor: Option<String>,
    },
    /// The follower waits on several of our actors.
    #[error("{follower} waits to follow {}; say which with --actor", .actors.join(" and "))]
    Ambiguous {
        follower: String,
        /// Our handles.
        actors: Vec<String>,
    },
    /// POST is neither `handle/slug` nor one of our post URLs.
    #[error("{0:?} is not a post: write handle/slug (news/hello) or the post's URL")]
    BadPost(String),
    /// ID is not written as the queue writes ids.
    #[error("{0:?} is not a queue id: write it as `masthead queue` lists it (r12 for a reply or mention, f3 for a follow)")]
    BadQueueId(String),
    /// Nothing in the queue has this id (any more).
    #[error("nothing in the queue is {0} (list it with `masthead queue --all`; a decided follow leaves the queue)")]
    NotQueued(QueueId),
    /// Approving a reply that was not sent publicly would publish it.
    #[error("{0} was not sent publicly (directly or to followers only), and masthead never shows such a reply; reject it to clear it from the queue")]
    NotPublic(QueueId),
    /// `masthead people` was given neither an actor id nor a handle.
    #[error("{0:?} names no one: give the person's actor id, a URL such as https://m.example/users/ann (as `masthead replies` and `masthead follows pending` list it), or their @user@host")]
    NotAPerson(String),
    /// No cached actor document or resolved mention has this handle.
    #[error("no actor document cached here has the handle @{0}: give the person's actor id URL instead (`masthead replies` and `masthead follows pending` list them)")]
    UnknownHandle(String),
    /// Several actors have this handle (one moved, or a server reused it).
    #[error("@{handle} names several actors here ({}); give the actor id URL of the one you mean", .ids.join(", "))]
    AmbiguousHandle { handle: String, ids: Vec<String> },
    /// There is no database to read or erase from.
    #[error("no database at {0}: masthead has stored nothing there (pass --data-dir if the site's data lives elsewhere)")]
    NoDatabase(PathBuf),
    /// The erasure is saved, but a comments file still shows their replies.
    #[error("{0}; everything else is erased: fix this and run `masthead people forget` again, which rewrites every comments file that still names them")]
    ForgottenButComments(CommentsError),
    /// The decision is saved, but the post's comments file could not be rewritten.
    #[error(
        "{0}; the decision is saved: run the command again once this is fixed to rewrite the file"
    )]
    Comments(#[from] CommentsError),
}

/// Loads site.toml and opens its store (`data_dir` overrides `site.data_dir`).
pub fn open(config: &Path, data_dir: Option<PathBuf>) -> Result<(Site, Store), AdminError> {
    let mut site = Site::load(config)?.site;
    if let Some(dir) = data_dir {
        site.data_dir = dir;
    }
    let store = Store::open(&site.data_dir)?;
    Ok((site, store))
}

/// Loads site.toml and opens the store that is already there (`data_dir` overrides
/// `site.data_dir`), read-only when `read_only`: a missing database is an error, never created.
pub fn open_existing(
    config: &Path,
    data_dir: Option<PathBuf>,
    read_only: bool,
) -> Result<(Site, Store), AdminError> {
    let mut site = Site::load(config)?.site;
    if let Some(dir) = data_dir {
        site.data_dir = dir;
    }
    let db = site.data_dir.join("masthead.db");
    if !db.is_file() {
        return Err(AdminError::NoDatabase(db));
    }
    let store = if read_only {
        Store::open_read_only(&site.data_dir)?.ok_or(AdminError::NoDatabase(db))?
    } else {
        Store::open(&site.data_dir)?
    };
    Ok((site, store))
}

fn check_actor(site: &Site, actor: Option<&str>) -> Result<(), AdminError> {
    match actor {
        Some(a) if site.actor(a).is_none() => Err(AdminError::UnknownActor(a.to_string())),
        _ => Ok(()),
    }
}

/// Follows waiting for approval, of `actor` or of every actor.
pub fn pending_follows(
    site: &Site,
    store: &Store,
    actor: Option<&str>,
) -> Result<Vec<Follower>, AdminError> {
    check_actor(site, actor)?;
    Ok(store.followers_of_any(actor, FollowState::Pending)?)
}

/// What a person decides on a queued item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// How an item in the queue is named: `r12` (a reply or mention) or `f3` (a follow). Numbers are
/// shared by both kinds, so the letter is a reminder: `12` alone names the same item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueId {
    pub no: u64,
    /// The item is a follow.
    pub follow: bool,
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letter = if self.follow { 'f' } else { 'r' };
        write!(f, "{letter}{}", self.no)
    }
}

/// Reads `r12`, `f3` or `12` (any case, a leading `#` allowed); the kind when a letter says it.
fn parse_queue_id(text: &str) -> Result<(u64, Option<bool>), AdminError> {
    let bad = || AdminError::BadQueueId(text.to_string());
    let t = text.trim().trim_start_matches('#').to_ascii_lowercase();
    let (follow, digits) = match t.chars().next() {
        Some('r') => (Some(false), &t[1..]),
        Some('f') => (Some(true), &t[1..]),
        _ => (None, t.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let no = digits.parse().map_err(|_| bad())?;
    Ok((no, follow))
}

/// One item of the moderation queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueItem {
    /// A reply or mention: held, or (with `all`) hidden or rejected.
    Reply(Queued<Reply>),
    /// A pending follow.
    Follow(Queued<Follower>),
}

impl QueueItem {
    pub fn id(&self) -> QueueId {
        match self {
            QueueItem::Reply(q) => QueueId {
                no: q.no,
                follow: false,
            },
            QueueItem::Follow(q) => QueueId {
                no: q.no,
                follow: true,
            },
        }
    }
}

/// The queue, oldest first: held replies and mentions and pending follows, and with `all` the
/// hidden and rejected replies too.
pub fn queue(store: &Store, all: bool) -> Result<Vec<QueueItem>, AdminError> {
    let statuses: &[ReplyStatus] = if all {
        &[
            ReplyStatus::Held,
            ReplyStatus::Hidden,
            ReplyStatus::Rejected,
        ]
    } else {
        &[ReplyStatus::Held]
    };
    let mut items: Vec<QueueItem> = store
        .queued_replies(statuses)?
        .into_iter()
        .map(QueueItem::Reply)
        .chain(store.queued_follows()?.into_iter().map(QueueItem::Follow))
        .collect();
    items.sort_by_key(|i| i.id().no);
    Ok(items)
}

/// What a decision did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decided {
    /// The reply is now visible (approved) or rejected.
    Reply { id: QueueId, reply: Reply },
    /// The follow's answer is queued for delivery.
    Follow {
        id: QueueId,
        follow: Follower,
        answer: FollowAnswer,
    },
}

/// Approves or rejects the queued item `id` (`r12`, `f3` or `12`).
///
/// A reply approved becomes visible (in its post's `replies` collection, page and comments
/// file); one rejected is kept as rejected, never shown, so that the same Note sent again stays
/// refused. Either works on a hidden or already decided reply too (a person may change their
/// mind); approving one that was not sent publicly is refused. A follow approved is accepted with
/// an Accept queued; one rejected gets a Reject queued and is forgotten.
pub fn decide(
    site: &Site,
    store: &Store,
    id: &str,
    decision: Decision,
) -> Result<Decided, AdminError> {
    let (no, follow) = parse_queue_id(id)?;
    let named = QueueId {
        no,
        follow: follow == Some(true),
    };
    if follow != Some(true) {
        if let Some(q) = store.queued_reply(no)? {
            return decide_reply(site, store, q, decision);
        }
    }
    if follow != Some(false) {
        if let Some(q) = store.queued_follow(no)? {
            let answer = match decision {
                Decision::Approve => FollowAnswer::Accept,
                Decision::Reject => FollowAnswer::Reject,
            };
            answer_queued_follow(site, store, &q.item, answer)?;
            return Ok(Decided::Follow {
                id: QueueId { no, follow: true },
                follow: q.item,
                answer,
            });
        }
    }
    Err(AdminError::NotQueued(named))
}

fn decide_reply(
    site: &Site,
    store: &Store,
    q: Queued<Reply>,
    decision: Decision,
) -> Result<Decided, AdminError> {
    let id = QueueId {
        no: q.no,
        follow: false,
    };
    let mut reply = q.item;
    let status = match decision {
        Decision::Approve if !reply.public => return Err(AdminError::NotPublic(id)),
        Decision::Approve => ReplyStatus::Visible,
        Decision::Reject => ReplyStatus::Rejected,
    };
    store.set_reply_status(&reply.id, status)?;
    reply.status = status;
    if let Some((handle, slug)) = &reply.post {
        comments::write_file(store, &site.data_dir, handle, slug)?;
    }
    Ok(Decided::Reply { id, reply })
}

/// The one way a person's answer to a follow is applied, whichever command named it.
fn answer_queued_follow(
    site: &Site,
    store: &Store,
    follow: &Follower,
    answer: FollowAnswer,
) -> Result<(), AdminError> {
    answer_stored_follow(
        store,
        &Urls::new(site),
        &crate::clock::Clock::system(),
        follow,
        answer,
    )?;
    Ok(())
}

/// Approves (Accept queued, follow accepted) or rejects (Reject queued, follow removed) the
/// pending follow of `actor` (optional when the follower waits on one actor only) by `follower`:
/// `masthead follows approve|reject`, the older spelling of [`decide`] for follows.
pub fn answer_follow(
    site: &Site,
    store: &Store,
    actor: Option<&str>,
    follower: &str,
    answer: FollowAnswer,
) -> Result<Follower, AdminError> {
    let pending: Vec<Follower> = pending_follows(site, store, actor)?
        .into_iter()
        .filter(|f| f.follower == follower)
        .collect();
    let follow = match pending.as_slice() {
        [] => {
            return Err(AdminError::NoSuchFollow {
                follower: follower.to_string(),
                actor: actor.map(str::to_string),
            })
        }
        [one] => one.clone(),
        many => {
            return Err(AdminError::Ambiguous {
                follower: follower.to_string(),
                actors: many.iter().map(|f| f.actor.clone()).collect(),
            })
        }
    };
    answer_queued_follow(site, store, &follow, answer)?;
    Ok(follow)
}

/// Reads POST as `handle/slug`, or one of our post URLs (`/users/h/posts/slug` or `/@h/slug`).
pub fn parse_post(site: &Site, post: &str) -> Result<(String, String), AdminError> {
    let bad = || AdminError::BadPost(post.to_string());
    let base = Urls::new(site).base().to_string();
    let path = match post.strip_prefix(&base) {
        Some(rest) => rest.trim_start_matches('/'),
        None if post.contains("://") => return Err(bad()),
        None => post,
    };
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (handle, slug) = match parts.as_slice() {
        ["users", h, "posts", s] => (*h, *s),
        [h, s] => (h.trim_start_matches('@'), *s),
        _ => return Err(bad()),
    };
    if site.actor(handle).is_none() || slug.is_empty() {
        return Err(bad());
    }
    Ok((handle.to_string(), slug.to_string()))
}

/// Replies to one post (visible ones), or every reply and mention kept (held ones too).
pub fn replies(site: &Site, store: &Store, post: Option<&str>) -> Result<Vec<Reply>, AdminError> {
    match post {
        Some(p) => {
            let (h, s) = parse_post(site, p)?;
            Ok(store.replies_to(&h, &s)?)
        }
        None => Ok(store.all_replies()?),
    }
}

/// Every report, newest first.
pub fn reports(store: &Store) -> Result<Vec<Report>, AdminError> {
    Ok(store.reports()?)
}

/// What the store and the comments files hold about one remote person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub data: PersonData,
    /// The posts (handle, slug) whose comments file names them.
    pub comments_files: Vec<(String, String)>,
}

/// What forgetting a person erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erased {
    /// The actor id.
    pub actor: String,
    pub forgotten: Forgotten,
    /// The comments files rewritten without them (handle, slug).
    pub comments_files: Vec<(String, String)>,
}

/// The actor id `who` names: an actor id (an http or https URL), or `@user@host` (also
/// `user@host`, `acct:user@host`) when a cached actor document or a resolved mention has that
/// handle.
pub fn resolve_person(store: &Store, who: &str) -> Result<String, AdminError> {
    let who = who.trim();
    if who.contains("://") {
        return match url::Url::parse(who) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                Ok(who.to_string())
            }
            _ => Err(AdminError::NotAPerson(who.to_string())),
        };
    }
    let handle = who
        .strip_prefix("acct:")
        .unwrap_or(who)
        .trim_start_matches('@');
    match handle.split_once('@') {
        Some((user, host)) if !user.is_empty() && !host.is_empty() && !host.contains('@') => {}
        _ => return Err(AdminError::NotAPerson(who.to_string())),
    }
    let mut ids = store.actors_by_handle(handle)?;
    match ids.len() {
        0 => Err(AdminError::UnknownHandle(handle.to_string())),
        1 => Ok(ids.remove(0)),
        _ => Err(AdminError::AmbiguousHandle {
            handle: handle.to_string(),
            ids,
        }),
    }
}

/// Everything masthead holds about the person `who` names (an access request).
pub fn person(site: &Site, store: &Store, who: &str) -> Result<Person, AdminError> {
    let actor = resolve_person(store, who)?;
    Ok(Person {
        data: store.person(&actor)?,
        comments_files: comments::files_naming(&site.data_dir, &actor)?,
    })
}

/// Erases everything masthead holds about the person `who` names (an erasure request), in one
/// store transaction: each follow of theirs gets a `Reject` of their Follow queued to their
/// inbox, signed by the followed actor (the answer `masthead reject` queues, built by the same
/// [`follow_response`]), so their server stops showing the follow. Then every comments file
/// that names them is written again without them.
///
/// A running server sees the erasure at its next read of the store (pages, collections and
/// comments.json read it at every request). Two copies live in its memory until they go by
/// themselves: the inbox's cached copy of their actor document (kept to verify signatures;
/// never served or written back; the hourly `Store::prune_remote_actors` drops every copy, and a
/// restart does), and an activity of theirs that an inbox worker
/// was processing at that very moment, which it stores when it finishes (show them again to be
/// sure).
pub fn forget_person(site: &Site, store: &Store, who: &str) -> Result<Erased, AdminError> {
    let actor = resolve_person(store, who)?;
    let urls = Urls::new(site);
    let forgotten =
        store.forget_person(&actor, crate::clock::Clock::system().now_ms(), |follow| {
            let body = follow_response(
                &urls,
                &follow.actor,
                FollowAnswer::Reject,
                &follow.follow_id,
                &follow.follower,
                None,
            );
            Some(Parting {
                activity_id: body["id"].as_str()?.to_string(),
                body: body.to_string(),
            })
        })?;
    let mut comments_files = forgotten.posts.clone();
    for post in
        comments::files_naming(&site.data_dir, &actor).map_err(AdminError::ForgottenButComments)?
    {
        if !comments_files.contains(&post) {
            comments_files.push(post);
        }
    }
    for (handle, slug) in &comments_files {
        comments::write_file(store, &site.data_dir, handle, slug)
            .map_err(AdminError::ForgottenButComments)?;
    }
    Ok(Erased {
        actor,
        forgotten,
        comments_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The follower in these tests.
    const A: &str = "https://r.example/users/a";

    /// A site with `news` and `desk` (which approves its followers), and its store in `data/`.
    fn site() -> (tempfile::TempDir, Site, Store) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
        std::fs::create_dir_all(dir.path().join("content/desk")).unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n\n[[actor]]\nhandle = \"desk\"\nmanually_approves_followers = true\n";
        let site = Site::parse(&dir.path().join("site.toml"), text)
            .unwrap()
            .site;
        let store = Store::open(&dir.path().join("data")).unwrap();
        (dir, site, store)
    }

    fn pending(store: &Store, actor: &str, follower: &str) {
        store
            .upsert_follower(&Follower::example(actor, follower))
            .unwrap();
    }

    /// The delivery queue has no reader here (the delivery workers own it); look through SQLite.
    fn deliveries(dir: &Path) -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(dir.join("data/masthead.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT inbox, body FROM deliveries JOIN delivery_bodies USING (body_id) ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn can_approve_a_pending_follow_with_an_accept() {
        let (dir, site, store) = site();
        pending(&store, "desk", A);
        assert_eq!(pending_follows(&site, &store, None).unwrap().len(), 1);
        answer_follow(&site, &store, None, A, FollowAnswer::Accept).unwrap();
        let f = store.follower("desk", A).unwrap().unwrap();
        assert_eq!(f.state, FollowState::Accepted);
        let sent = deliveries(dir.path());
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "https://r.example/users/a/inbox");
        let body: serde_json::Value = serde_json::from_str(&sent[0].1).unwrap();
        assert_eq!(body["type"], "Accept");
        assert_eq!(body["actor"], "https://s.example/users/desk");
        assert_eq!(body["object"]["id"], "https://r.example/users/a#follows/1");
        assert!(pending_follows(&site, &store, Some("desk"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn can_reject_a_pending_follow_and_forget_it() {
        let (dir, site, store) = site();
        pending(&store, "desk", A);
        answer_follow(&site, &store, Some("desk"), A, FollowAnswer::Reject).unwrap();
        assert!(store.follower("desk", A).unwrap().is_none());
        let body: serde_json::Value = serde_json::from_str(&deliveries(dir.path())[0].1).unwrap();
        assert_eq!(body["type"], "Reject");
    }

    #[test]
    fn errors_when_the_follow_is_missing_ambiguous_or_the_actor_unknown() {
        let (dir, site, store) = site();
        assert_eq!(
            answer_follow(&site, &store, None, A, FollowAnswer::Accept)
                .unwrap_err()
                .to_string(),
            "no pending follow by https://r.example/users/a (list them with `masthead follows pending`)"
        );
        pending(&store, "desk", A);
        pending(&store, "news", A);
        assert_eq!(
            answer_follow(&site, &store, None, A, FollowAnswer::Accept)
                .unwrap_err()
                .to_string(),
            "https://r.example/users/a waits to follow desk and news; say which with --actor"
        );
        assert_eq!(
            pending_follows(&site, &store, Some("nobody"))
                .unwrap_err()
                .to_string(),
            "no actor \"nobody\" in site.toml (use one of its handles)"
        );
        assert!(deliveries(dir.path()).is_empty());
    }

    fn held_reply(store: &Store, n: u32, status: ReplyStatus, public: bool) -> Reply {
        let r = Reply {
            content_html: format!("<p>reply {n}</p>"),
            status,
            public,
            hold: Some(crate::store::Hold::new(
                crate::store::HeldBy::Plugin("spam-words".into()),
                "casino",
            )),
            ..Reply::example(&format!("https://r.example/n/{n}"), A)
        };
        store.upsert_reply(&r).unwrap();
        r
    }

    /// The ids in the comments file of news/hello.
    fn comment_ids(site: &Site) -> Vec<String> {
        let path = comments::file_path(&site.data_dir, "news", "hello");
        let list: Vec<comments::Comment> =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        list.into_iter().map(|c| c.id).collect()
    }

    #[test]
    fn can_approve_and_reject_held_and_hidden_replies_by_queue_id() {
        let (dir, mut site, store) = site();
        site.data_dir = dir.path().join("data");
        held_reply(&store, 1, ReplyStatus::Held, true);
        held_reply(&store, 2, ReplyStatus::Hidden, true);
        let ids = |all| -> Vec<String> {
            queue(&store, all)
                .unwrap()
                .iter()
                .map(|i| i.id().to_string())
                .collect()
        };
        assert_eq!(ids(false), ["r1"]);
        assert_eq!(ids(true), ["r1", "r2"]);

        let done = decide(&site, &store, "r1", Decision::Approve).unwrap();
        assert!(
            matches!(done, Decided::Reply { reply, .. } if reply.status == ReplyStatus::Visible)
        );
        assert_eq!(comment_ids(&site), ["https://r.example/n/1"]);
        assert!(ids(false).is_empty());

        // A hidden reply can be shown after all; `2` names it without its letter.
        decide(&site, &store, "2", Decision::Approve).unwrap();
        assert_eq!(
            comment_ids(&site),
            ["https://r.example/n/1", "https://r.example/n/2"]
        );
        // And a person may change their mind: rejected, it leaves the page and stays listed.
        decide(&site, &store, "R1", Decision::Reject).unwrap();
        assert_eq!(comment_ids(&site), ["https://r.example/n/2"]);
        assert_eq!(store.replies_to("news", "hello").unwrap().len(), 1);
        assert_eq!(ids(true), ["r1"]);
    }

    #[test]
    fn rejects_approving_a_reply_that_was_not_public() {
        let (_dir, site, store) = site();
        held_reply(&store, 1, ReplyStatus::Held, false);
        assert_eq!(
            decide(&site, &store, "r1", Decision::Approve)
                .unwrap_err()
                .to_string(),
            "r1 was not sent publicly (directly or to followers only), and masthead never shows such a reply; reject it to clear it from the queue"
        );
        assert!(store.replies_to("news", "hello").unwrap().is_empty());
        decide(&site, &store, "r1", Decision::Reject).unwrap();
        assert!(queue(&store, false).unwrap().is_empty());
    }

    #[test]
    fn can_answer_a_follow_by_queue_id() {
        let (dir, site, store) = site();
        pending(&store, "desk", A);
        assert_eq!(
            decide(&site, &store, "r1", Decision::Approve)
                .unwrap_err()
                .to_string(),
            "nothing in the queue is r1 (list it with `masthead queue --all`; a decided follow leaves the queue)"
        );
        let done = decide(&site, &store, "f1", Decision::Reject).unwrap();
        assert!(matches!(
            done,
            Decided::Follow {
                answer: FollowAnswer::Reject,
                ..
            }
        ));
        assert!(store.follower("desk", A).unwrap().is_none());
        let body: serde_json::Value = serde_json::from_str(&deliveries(dir.path())[0].1).unwrap();
        assert_eq!(body["type"], "Reject");
        assert_eq!(
            decide(&site, &store, "f1", Decision::Reject)
                .unwrap_err()
                .to_string(),
            "nothing in the queue is f1 (list it with `masthead queue --all`; a decided follow leaves the queue)"
        );
    }

    #[test]
    fn errors_when_a_queue_id_is_not_one() {
        let (_dir, site, store) = site();
        for bad in ["", "r", "x12", "r1a", "news/hello"] {
            assert_eq!(
                decide(&site, &store, bad, Decision::Approve)
                    .unwrap_err()
                    .to_string(),
                format!("{bad:?} is not a queue id: write it as `masthead queue` lists it (r12 for a reply or mention, f3 for a follow)")
            );
        }
        assert_eq!(parse_queue_id("#F3").unwrap(), (3, Some(true)));
    }

    #[test]
    fn errors_when_a_person_is_named_by_nothing_known() {
        let (_dir, _site, store) = site();
        let err = |who: &str| resolve_person(&store, who).unwrap_err().to_string();
        for bad in ["ann", "@ann", "ftp://r.example/users/a", "a@b@c"] {
            assert_eq!(
                err(bad),
                format!("{bad:?} names no one: give the person's actor id, a URL such as https://m.example/users/ann (as `masthead replies` and `masthead follows pending` list it), or their @user@host")
            );
        }
        assert_eq!(
            err("@ann@r.example"),
            "no actor document cached here has the handle @ann@r.example: give the person's actor id URL instead (`masthead replies` and `masthead follows pending` list them)"
        );
        assert_eq!(resolve_person(&store, A).unwrap(), A);
    }

    #[test]
    fn errors_when_there_is_no_database_to_read_and_creates_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
        let config = dir.path().join("site.toml");
        std::fs::write(
            &config,
            "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n",
        )
        .unwrap();
        let data = dir.path().join("elsewhere");
        for read_only in [true, false] {
            let err = open_existing(&config, Some(data.clone()), read_only).err();
            assert_eq!(
                err.map(|e| e.to_string()),
                Some(format!("no database at {}: masthead has stored nothing there (pass --data-dir if the site's data lives elsewhere)", data.join("masthead.db").display()))
            );
        }
        assert!(!data.exists());
    }

    #[test]
    fn can_forget_a_follower_with_a_reject_and_their_reply_from_the_comments_file() {
        let (dir, mut site, store) = site();
        site.data_dir = dir.path().join("data");
        store
            .upsert_follower(&Follower {
                state: FollowState::Accepted,
                ..Follower::example("news", A)
            })
            .unwrap();
        held_reply(&store, 1, ReplyStatus::Visible, true);
        comments::write_file(&store, &site.data_dir, "news", "hello").unwrap();
        assert_eq!(comment_ids(&site), ["https://r.example/n/1"]);
        let person = person(&site, &store, A).unwrap();
        assert_eq!(
            person.comments_files,
            [("news".to_string(), "hello".to_string())]
        );

        let erased = forget_person(&site, &store, A).unwrap();
        assert_eq!(
            erased.comments_files,
            [("news".to_string(), "hello".to_string())]
        );
        assert!(comment_ids(&site).is_empty());
        assert!(store.follower("news", A).unwrap().is_none());
        let sent = deliveries(dir.path());
        assert_eq!(sent.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&sent[0].1).unwrap();
        assert_eq!(body["type"], "Reject");
        assert_eq!(body["actor"], "https://s.example/users/news");
        assert_eq!(body["object"]["id"], "https://r.example/users/a#follows/1");
        assert_eq!(sent[0].0, "https://r.example/users/a/inbox");
        // Again: nothing left, nothing queued twice.
        let again = forget_person(&site, &store, A).unwrap();
        assert!(again.forgotten.is_empty() && again.comments_files.is_empty());
        assert_eq!(deliveries(dir.path()).len(), 1);
    }

    #[test]
    fn can_name_a_post_by_handle_and_slug_or_url() {
        let (_dir, site, _) = site();
        let want = Ok(("news".to_string(), "hello".to_string()));
        assert_eq!(
            parse_post(&site, "news/hello").map_err(|e| e.to_string()),
            want
        );
        assert_eq!(
            parse_post(&site, "https://s.example/users/news/posts/hello")
                .map_err(|e| e.to_string()),
            want
        );
        assert_eq!(
            parse_post(&site, "https://s.example/@news/hello").map_err(|e| e.to_string()),
            want
        );
        assert!(parse_post(&site, "https://other.example/@news/hello").is_err());
        assert!(parse_post(&site, "nobody/hello").is_err());
        assert!(parse_post(&site, "hello").is_err());
    }
}

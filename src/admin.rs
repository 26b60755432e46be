//! What the operator does from the command line about incoming federation: pending follows
//! (`masthead follows pending|approve|reject`), replies (`masthead replies`) and reports
//! (`masthead reports`).
//!
//! Each command is a library function over the site and its store, so that tests call the same
//! code as the command line; printing for people is the commands' own (`crate::commands`).
//! Approving or rejecting queues the Accept or Reject in the delivery queue; a running server's
//! delivery workers send it (they poll the queue, so the CLI and the server need not talk).

use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Site};
use crate::federation::inbox::{answer_stored_follow, FollowAnswer};
use crate::store::{FollowState, Follower, Reply, Report, Store, StoreError};
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

/// Approves (Accept queued, follow accepted) or rejects (Reject queued, follow removed) the
/// pending follow of `actor` (optional when the follower waits on one actor only) by `follower`.
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
    answer_stored_follow(
        store,
        &Urls::new(site),
        &crate::clock::Clock::system(),
        &follow,
        answer,
    )?;
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
            .upsert_follower(&Follower {
                actor: actor.into(),
                follower: follower.into(),
                follow_id: format!("{follower}#follows/1"),
                inbox: format!("{follower}/inbox"),
                shared_inbox: None,
                state: FollowState::Pending,
                created_at: String::new(),
                hold: None,
            })
            .unwrap();
    }

    /// The delivery queue has no reader here (the delivery workers own it); look through SQLite.
    fn deliveries(dir: &Path) -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(dir.join("data/masthead.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT inbox, body FROM deliveries ORDER BY id")
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

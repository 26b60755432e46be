//! What the operator does from the command line about incoming federation: pending follows
//! (`masthead follows pending|approve|reject`), replies (`masthead replies`) and reports
//! (`masthead reports`).
//!
//! Each command is a library function over the site and its store, plus a printer for people, so
//! that `main` only dispatches and tests call the same code. Approving or rejecting queues the
//! Accept or Reject in the delivery queue; a running server's delivery workers send it (they poll
//! the queue, so the CLI and the server need not talk).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Site};
use crate::federation::inbox::{answer_stored_follow, FollowAnswer};
use crate::store::{FollowState, Follower, Reply, ReplyStatus, Report, Store, StoreError};
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
        /// The follower asked for.
        follower: String,
        /// The actor asked for.
        actor: Option<String>,
    },
    /// The follower waits on several of our actors.
    #[error("{follower} waits to follow {}; say which with --actor", .actors.join(" and "))]
    Ambiguous {
        /// The follower.
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

/// Pending follows, one per line, for a person.
pub fn print_follows(follows: &[Follower]) -> String {
    if follows.is_empty() {
        return "no follows waiting for approval\n".to_string();
    }
    let mut out = String::new();
    for f in follows {
        let _ = writeln!(
            out,
            "{}  wants to follow {}  (since {})",
            f.follower, f.actor, f.created_at
        );
    }
    let _ = writeln!(
        out,
        "approve with: masthead follows approve --actor HANDLE FOLLOWER"
    );
    out
}

/// Replies, for a person: where, who, when, then the text without tags.
pub fn print_replies(replies: &[Reply]) -> String {
    if replies.is_empty() {
        return "no replies\n".to_string();
    }
    let mut out = String::new();
    for r in replies {
        let place = match (&r.post, r.mentions.is_empty()) {
            (Some((h, s)), _) => format!("{h}/{s}"),
            (None, false) => format!("mention of {}", r.mentions.join(", ")),
            (None, true) => "-".to_string(),
        };
        let held = if r.status == ReplyStatus::Held {
            " [held]"
        } else {
            ""
        };
        let _ = writeln!(out, "{place}  {}  {}{held}", r.author, r.published);
        let _ = writeln!(out, "  {}", text_of(&r.content_html));
        let _ = writeln!(out, "  {}", r.url.as_deref().unwrap_or(&r.id));
    }
    out
}

/// Reports, for a person.
pub fn print_reports(reports: &[Report]) -> String {
    if reports.is_empty() {
        return "no reports\n".to_string();
    }
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "{}  from {}", r.received_at, r.reporter);
        for o in &r.objects {
            let _ = writeln!(out, "  about {o}");
        }
        if let Some(c) = r.content.as_deref().filter(|c| !c.is_empty()) {
            let _ = writeln!(out, "  \"{c}\"");
        }
    }
    out
}

/// Sanitized HTML as one line of text.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let text = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(dir: &Path) -> Site {
        std::fs::create_dir_all(dir.join("content/news")).unwrap();
        std::fs::create_dir_all(dir.join("content/desk")).unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n\n[[actor]]\nhandle = \"desk\"\nmanually_approves_followers = true\n";
        Site::parse(&dir.join("site.toml"), text).unwrap().site
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
        let dir = tempfile::tempdir().unwrap();
        let site = site(dir.path());
        let store = Store::open(&dir.path().join("data")).unwrap();
        pending(&store, "desk", "https://r.example/users/a");
        assert_eq!(pending_follows(&site, &store, None).unwrap().len(), 1);
        answer_follow(
            &site,
            &store,
            None,
            "https://r.example/users/a",
            FollowAnswer::Accept,
        )
        .unwrap();
        let f = store
            .follower("desk", "https://r.example/users/a")
            .unwrap()
            .unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let site = site(dir.path());
        let store = Store::open(&dir.path().join("data")).unwrap();
        pending(&store, "desk", "https://r.example/users/a");
        answer_follow(
            &site,
            &store,
            Some("desk"),
            "https://r.example/users/a",
            FollowAnswer::Reject,
        )
        .unwrap();
        assert!(store
            .follower("desk", "https://r.example/users/a")
            .unwrap()
            .is_none());
        let body: serde_json::Value = serde_json::from_str(&deliveries(dir.path())[0].1).unwrap();
        assert_eq!(body["type"], "Reject");
    }

    #[test]
    fn errors_when_the_follow_is_missing_ambiguous_or_the_actor_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let site = site(dir.path());
        let store = Store::open(&dir.path().join("data")).unwrap();
        let a = "https://r.example/users/a";
        assert_eq!(
            answer_follow(&site, &store, None, a, FollowAnswer::Accept)
                .unwrap_err()
                .to_string(),
            "no pending follow by https://r.example/users/a (list them with `masthead follows pending`)"
        );
        pending(&store, "desk", a);
        pending(&store, "news", a);
        assert_eq!(
            answer_follow(&site, &store, None, a, FollowAnswer::Accept)
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
        let dir = tempfile::tempdir().unwrap();
        let site = site(dir.path());
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

    #[test]
    fn can_print_replies_and_reports_for_a_person() {
        let reply = Reply {
            id: "https://r.example/n/1".into(),
            author: "https://r.example/users/a".into(),
            post: Some(("news".into(), "hello".into())),
            mentions: vec![],
            in_reply_to: None,
            content_html: "<p>Nice &amp; <b>clear</b></p>".into(),
            url: None,
            published: "2026-11-20T10:00:00+00:00".into(),
            updated: None,
            status: ReplyStatus::Held,
        };
        assert_eq!(
            print_replies(&[reply]),
            "news/hello  https://r.example/users/a  2026-11-20T10:00:00+00:00 [held]\n  Nice & clear\n  https://r.example/n/1\n"
        );
        let report = Report {
            id: "https://r.example/flag/1".into(),
            reporter: "https://r.example/actor".into(),
            objects: vec!["https://s.example/users/news".into()],
            content: Some("spam".into()),
            received_at: "2026-11-20T10:00:00+00:00".into(),
        };
        assert_eq!(
            print_reports(&[report]),
            "2026-11-20T10:00:00+00:00  from https://r.example/actor\n  about https://s.example/users/news\n  \"spam\"\n"
        );
        assert_eq!(print_reports(&[]), "no reports\n");
    }
}

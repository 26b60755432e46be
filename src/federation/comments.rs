//! Replies to a post as comments: the one view of stored replies that the post page, the
//! `comments.json` endpoint, the per-post JSON file and the `replies` collection share.
//!
//! A static site renders the file `<data_dir>/comments/<handle>/<slug>.json` (or fetches
//! `/users/<handle>/posts/<slug>/comments.json`, served with CORS) as its comment section. The
//! file is rewritten whenever the post's replies change; it is a JSON array of [`Comment`], oldest
//! first. Held replies never appear here. Content was sanitized when it arrived; every URL in
//! a comment (the reply's id and page, the author's profile and avatar) is checked again here by
//! [`safe_remote_url`] (http or https; the site's stricter `[dev] allow_http` rule was applied when
//! it arrived), so a row stored before the rule existed cannot put a `javascript:` link on a static
//! site. A reply whose id fails is left out; a link that fails is dropped. Names are plain text.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::federation::fetch::{plain_text, safe_remote_url};
use crate::store::{Reply, Store, StoreError};

/// One reply, as a comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// The remote Note id.
    pub id: String,
    /// Its page on the author's server.
    pub url: Option<String>,
    pub author: CommentAuthor,
    /// Sanitized HTML (Mastodon's allowlist).
    pub content_html: String,
    /// RFC 3339.
    pub published: String,
    /// RFC 3339, after an edit.
    pub updated: Option<String>,
}

/// The author of a comment, from the cached actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentAuthor {
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// `user@host`.
    pub handle: Option<String>,
    /// Profile page.
    pub url: Option<String>,
    /// Avatar URL.
    pub icon: Option<String>,
}

/// The visible replies to one post, as comments, oldest first.
pub fn for_post(store: &Store, handle: &str, slug: &str) -> Result<Vec<Comment>, StoreError> {
    let mut comments = Vec::new();
    for r in store.replies_to(handle, slug)? {
        if let Some(c) = to_comment(store, r)? {
            comments.push(c);
        }
    }
    Ok(comments)
}

/// A URL fit for a comment.
fn link(url: Option<&str>) -> Option<String> {
    url.and_then(|u| safe_remote_url(u, true))
}

fn to_comment(store: &Store, r: Reply) -> Result<Option<Comment>, StoreError> {
    let (Some(id), Some(author)) = (link(Some(&r.id)), link(Some(&r.author))) else {
        tracing::warn!(id = %r.id, "reply with an id that is no http(s) URL left out of comments");
        return Ok(None);
    };
    let actor = store.remote_actor(&r.author)?;
    let icon = actor
        .as_ref()
        .and_then(|a| serde_json::from_str::<Value>(&a.document).ok())
        .and_then(|doc| icon_url(doc.get("icon")?));
    Ok(Some(Comment {
        id,
        url: link(r.url.as_deref()),
        author: CommentAuthor {
            name: actor
                .as_ref()
                .and_then(|a| a.name.as_deref())
                .map(plain_text),
            handle: actor
                .as_ref()
                .and_then(|a| a.handle.as_deref())
                .map(plain_text),
            url: link(actor.as_ref().and_then(|a| a.url.as_deref())),
            icon,
            id: author,
        },
        content_html: r.content_html,
        published: r.published,
        updated: r.updated,
    }))
}

/// The first safe URL of an `icon` (a URL, an `Image`, or a list of them).
fn icon_url(icon: &Value) -> Option<String> {
    match icon {
        Value::String(s) => link(Some(s)),
        Value::Array(list) => list.iter().find_map(icon_url),
        Value::Object(o) => o.get("url").and_then(icon_url),
        _ => None,
    }
}

/// Where the comments file of a post lives.
pub fn file_path(data_dir: &std::path::Path, handle: &str, slug: &str) -> PathBuf {
    data_dir
        .join("comments")
        .join(handle)
        .join(format!("{slug}.json"))
}

/// Rewrites the comments file of one post (write to a temp file, then rename, so a static site
/// generator never reads half a file).
pub fn write_file(
    store: &Store,
    data_dir: &std::path::Path,
    handle: &str,
    slug: &str,
) -> Result<(), CommentsError> {
    let comments = for_post(store, handle, slug)?;
    let path = file_path(data_dir, handle, slug);
    let io = |source| CommentsError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(&comments).unwrap_or_else(|_| b"[]".to_vec());
    std::fs::write(&tmp, body).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(())
}

/// The comments file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CommentsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed.
    #[error("comments file {path}: {source} (check that masthead may write in its data dir)")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RemoteActor, ReplyStatus};

    #[test]
    fn can_write_the_comments_of_a_post_with_their_authors() {
        let store = Store::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        store
            .upsert_remote_actor(&RemoteActor {
                id: "https://r.example/users/a".into(),
                inbox: "https://r.example/users/a/inbox".into(),
                shared_inbox: None,
                key_id: None,
                public_key_pem: None,
                handle: Some("a@r.example".into()),
                name: Some("Ann".into()),
                url: Some("https://r.example/@a".into()),
                document: r#"{"icon":{"type":"Image","url":"https://r.example/a.png"}}"#.into(),
                fetched_at: 0,
            })
            .unwrap();
        store
            .upsert_reply(&Reply {
                id: "https://r.example/n/1".into(),
                author: "https://r.example/users/a".into(),
                post: Some(("news".into(), "hello".into())),
                mentions: vec![],
                in_reply_to: None,
                content_html: "<p>hi</p>".into(),
                url: Some("https://r.example/@a/1".into()),
                published: "2026-11-20T10:00:00Z".into(),
                updated: None,
                status: ReplyStatus::Visible,
                public: true,
                hold: None,
            })
            .unwrap();
        write_file(&store, dir.path(), "news", "hello").unwrap();
        let got: Vec<Comment> = serde_json::from_slice(
            &std::fs::read(dir.path().join("comments/news/hello.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].author.name.as_deref(), Some("Ann"));
        assert_eq!(
            got[0].author.icon.as_deref(),
            Some("https://r.example/a.png")
        );
        store
            .delete_reply("https://r.example/n/1", "https://r.example/users/a")
            .unwrap();
        write_file(&store, dir.path(), "news", "hello").unwrap();
        let text = std::fs::read_to_string(dir.path().join("comments/news/hello.json")).unwrap();
        assert_eq!(text.trim(), "[]");
    }
}

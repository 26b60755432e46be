//! Replies to a post as comments: the one view of stored replies that the post page, the
//! `comments.json` endpoint, the per-post JSON file and the `replies` collection share.
//!
//! A static site renders the file `<data_dir>/comments/<handle>/<slug>.json` (or fetches
//! `/users/<handle>/posts/<slug>/comments.json`, served with CORS) as its comment section. The
//! file is a JSON array of [`Comment`], oldest first, one per line. A new reply is put in its
//! place ([`append_to_file`], reading only its own row from the store, and the file's lines back
//! to its place); an edit or a deletion rewrites it from one query with the authors joined
//! ([`write_file`]). Held replies never appear here. Content was sanitized when it arrived; every URL in
//! a comment (the reply's id and page, the author's profile and avatar) is checked again here by
//! [`safe_remote_url`] (http or https; the site's stricter `[dev] allow_http` rule was applied when
//! it arrived), so a row stored before the rule existed cannot put a `javascript:` link on a static
//! site. A reply whose id fails is left out; a link that fails is dropped. Names are plain text.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::federation::fetch::{plain_text, safe_remote_url};
use crate::store::{Reply, ReplyAuthor, ReplyStatus, Store, StoreError};

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

/// The visible replies to one post, as comments, oldest first: one query, authors joined.
pub fn for_post(store: &Store, handle: &str, slug: &str) -> Result<Vec<Comment>, StoreError> {
    Ok(store
        .replies_with_authors(handle, slug)?
        .into_iter()
        .filter_map(|(r, a)| to_comment(r, a.as_ref()))
        .collect())
}

/// A URL fit for a comment.
fn link(url: Option<&str>) -> Option<String> {
    url.and_then(|u| safe_remote_url(u, true))
}

fn to_comment(r: Reply, actor: Option<&ReplyAuthor>) -> Option<Comment> {
    let (Some(id), Some(author)) = (link(Some(&r.id)), link(Some(&r.author))) else {
        tracing::warn!(id = %r.id, "reply with an id that is no http(s) URL left out of comments");
        return None;
    };
    // Only the author's `icon` is parsed, never the whole document.
    let icon = actor
        .and_then(|a| a.icon_json.as_deref())
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
        .and_then(|icon| icon_url(&icon));
    Some(Comment {
        id,
        url: link(r.url.as_deref()),
        author: CommentAuthor {
            name: actor.and_then(|a| a.name.as_deref()).map(plain_text),
            handle: actor.and_then(|a| a.handle.as_deref()).map(plain_text),
            url: link(actor.and_then(|a| a.url.as_deref())),
            icon,
            id: author,
        },
        content_html: r.content_html,
        published: r.published,
        updated: r.updated,
    })
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

/// A post by its handle and slug.
pub type PostKey = (String, String);

/// Every comments file in `data_dir`: the post (handle, slug) and the file's path, sorted. A
/// missing `comments/` folder holds none; other names than `<handle>/<slug>.json` are passed over.
pub fn files(data_dir: &std::path::Path) -> Result<Vec<(PostKey, PathBuf)>, CommentsError> {
    let root = data_dir.join("comments");
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| CommentsError::Io { path, source }
    };
    let mut found = Vec::new();
    let handles = match std::fs::read_dir(&root) {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io(&root)(e)),
    };
    for handle in handles {
        let handle = handle.map_err(io(&root))?;
        if !handle.file_type().map_err(io(&handle.path()))?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(handle.path()).map_err(io(&handle.path()))? {
            let path = file.map_err(io(&handle.path()))?.path();
            let (Some(h), Some(slug)) = (
                handle.file_name().to_str().map(str::to_string),
                path.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_string),
            ) else {
                continue;
            };
            found.push(((h, slug), path));
        }
    }
    found.sort();
    Ok(found)
}

/// The posts (handle, slug) whose comments file in `data_dir` names `actor` (as a comment's
/// author, or anywhere in its text), by reading every file: what `masthead people` shows and
/// rewrites after an erasure, whether or not the store still knows the replies behind it (a run
/// cut short, a file written before a reply went). A missing `comments/` folder names none.
pub fn files_naming(
    data_dir: &std::path::Path,
    actor: &str,
) -> Result<Vec<PostKey>, CommentsError> {
    // The id as it is written inside a JSON string.
    let quoted = serde_json::to_string(actor).unwrap_or_default();
    let needle = quoted.trim_matches('"').as_bytes();
    let mut found = Vec::new();
    for (post, path) in files(data_dir)? {
        let body = std::fs::read(&path).map_err(|source| CommentsError::Io {
            path: path.clone(),
            source,
        })?;
        if !needle.is_empty() && body.windows(needle.len()).any(|w| w == needle) {
            found.push(post);
        }
    }
    Ok(found)
}

/// What writing a comments file cost: how many reply rows were read from the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub rows_read: usize,
}

/// Rewrites the comments file of one post from its rows (write to a temp file, then rename, so a
/// static site generator never reads half a file).
pub fn write_file(
    store: &Store,
    data_dir: &std::path::Path,
    handle: &str,
    slug: &str,
) -> Result<Written, CommentsError> {
    let rows = store.replies_with_authors(handle, slug)?;
    let written = Written {
        rows_read: rows.len(),
    };
    let comments: Vec<Comment> = rows
        .into_iter()
        .filter_map(|(r, a)| to_comment(r, a.as_ref()))
        .collect();
    let mut body = Vec::new();
    push_lines(&mut body, &comments);
    replace(&file_path(data_dir, handle, slug), &body)?;
    Ok(written)
}

/// Adds the visible replies `ids` (newly stored, in the order they were stored) to a post's
/// comments file, reading only their rows: the cost in rows does not grow with the replies
/// before them. Comments are ordered by `published`, then by when they were stored (as
/// [`for_post`] orders them), so a new reply usually goes last; one published before the last
/// comments is put in its place by reading the file's last lines back to it, not the store. The
/// file is rewritten from the store instead when it cannot be read that way: none yet, not in
/// the one-comment-per-line layout [`write_file`] writes, or holding one of `ids` already.
/// (Replies published in the same second are in the order they were added to the file, which
/// is the order stored unless several inbox workers stored them at once.)
pub fn append_to_file(
    store: &Store,
    data_dir: &std::path::Path,
    handle: &str,
    slug: &str,
    ids: &[String],
) -> Result<Written, CommentsError> {
    let path = file_path(data_dir, handle, slug);
    let Some(body) = std::fs::read(&path)
        .ok()
        .filter(|b| b.starts_with(b"[\n") && b.ends_with(b"\n]\n") && b.len() > 5)
    else {
        return write_file(store, data_dir, handle, slug);
    };
    let mut written = Written::default();
    let mut added = Vec::new();
    for id in ids {
        let Some((reply, author)) = store.reply_with_author(id)? else {
            continue;
        };
        written.rows_read += 1;
        let ours = reply
            .post
            .as_ref()
            .is_some_and(|(h, s)| h == handle && s == slug);
        if !ours || reply.status != ReplyStatus::Visible {
            continue;
        }
        if let Some(c) = to_comment(reply, author.as_ref()) {
            if !added.iter().any(|a: &Comment| a.id == c.id) {
                added.push(c);
            }
        }
    }
    // Stable: replies published together stay in the order they were stored.
    added.sort_by(|a, b| a.published.cmp(&b.published));
    let Some(first) = added.first() else {
        return Ok(written);
    };
    // The last lines published after the first new comment, read back from the end: they are
    // merged with the new comments; everything before them stays as it is.
    let mut head_end = body.len() - 3;
    let mut tail: Vec<(Placed, &[u8])> = Vec::new();
    loop {
        let start = body[..head_end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let line = &body[start..head_end];
        let Ok(placed) = serde_json::from_slice::<Placed>(line.strip_suffix(b",").unwrap_or(line))
        else {
            return rewrite(store, data_dir, handle, slug, written);
        };
        if added.iter().any(|c| c.id == placed.id) {
            return rewrite(store, data_dir, handle, slug, written);
        }
        if placed.published <= first.published {
            break;
        }
        tail.push((placed, line.strip_suffix(b",").unwrap_or(line)));
        if start <= 2 {
            head_end = 1;
            break;
        }
        head_end = start - 2;
    }
    let mut out = Vec::with_capacity(body.len() + added.len() * 1024);
    out.extend_from_slice(&body[..head_end]);
    let push = |out: &mut Vec<u8>, line: &[u8]| {
        out.extend_from_slice(if out.len() == 1 { b"\n" } else { b",\n" });
        out.extend_from_slice(line);
    };
    let mut tail = tail.into_iter().rev().peekable();
    for c in &added {
        // A comment already there goes before a new one published at the same time.
        while let Some((_, line)) = tail.next_if(|(p, _)| p.published <= c.published) {
            push(&mut out, line);
        }
        push(&mut out, &serde_json::to_vec(c).unwrap_or_default());
    }
    for (_, line) in tail {
        push(&mut out, line);
    }
    out.extend_from_slice(b"\n]\n");
    replace(&path, &out)?;
    Ok(written)
}

/// What [`append_to_file`] reads of a comment already in the file.
#[derive(Deserialize)]
struct Placed {
    id: String,
    published: String,
}

/// [`write_file`], adding the rows already read to its cost.
fn rewrite(
    store: &Store,
    data_dir: &std::path::Path,
    handle: &str,
    slug: &str,
    before: Written,
) -> Result<Written, CommentsError> {
    let whole = write_file(store, data_dir, handle, slug)?;
    Ok(Written {
        rows_read: before.rows_read + whole.rows_read,
    })
}

/// `[]` when empty, else one comment per line between `[` and `]`: the layout
/// [`append_to_file`] can extend without parsing what is already there.
fn push_lines(body: &mut Vec<u8>, comments: &[Comment]) {
    if comments.is_empty() {
        body.extend_from_slice(b"[]\n");
        return;
    }
    body.extend_from_slice(b"[\n");
    for (i, c) in comments.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(b",\n");
        }
        body.extend_from_slice(&serde_json::to_vec(c).unwrap_or_default());
    }
    body.extend_from_slice(b"\n]\n");
}

/// Writes `body` to a temp file beside `path`, then renames it over `path`.
fn replace(path: &std::path::Path, body: &[u8]) -> Result<(), CommentsError> {
    let io = |source| CommentsError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, body).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
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
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RemoteActor;

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
                url: Some("https://r.example/@a/1".into()),
                ..Reply::example("https://r.example/n/1", "https://r.example/users/a")
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

    fn author(store: &Store, name: &str) -> String {
        let id = format!("https://r.example/users/{name}");
        store
            .upsert_remote_actor(&RemoteActor {
                id: id.clone(),
                inbox: format!("{id}/inbox"),
                shared_inbox: None,
                key_id: None,
                public_key_pem: None,
                handle: Some(format!("{name}@r.example")),
                name: Some(name.to_uppercase()),
                url: None,
                document: format!(r#"{{"icon":"https://r.example/{name}.png"}}"#),
                fetched_at: 0,
            })
            .unwrap();
        id
    }

    /// Stores reply `n` by `author` to news/hello, published `n` seconds after 10:00.
    fn reply(store: &Store, author: &str, n: u32) -> String {
        reply_at(store, author, format!("https://r.example/n/{n}"), n)
    }

    /// Stores reply `id` by `author` to news/hello, published `n` seconds after 10:00.
    fn reply_at(store: &Store, author: &str, id: String, n: u32) -> String {
        store
            .upsert_reply(&Reply {
                content_html: format!("<p>{n}</p>"),
                published: (chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").unwrap()
                    + chrono::Duration::seconds(n.into()))
                .to_rfc3339(),
                ..Reply::example(&id, author)
            })
            .unwrap();
        id
    }

    fn on_disk(dir: &std::path::Path) -> Vec<Comment> {
        serde_json::from_slice(&std::fs::read(dir.join("comments/news/hello.json")).unwrap())
            .unwrap()
    }

    #[test]
    fn can_append_replies_reading_only_their_rows_however_many_came_before() {
        let store = Store::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let authors: Vec<String> = (0..5).map(|i| author(&store, &format!("a{i}"))).collect();
        // The first reply: no file yet, so it is written whole (one row).
        let first = reply(&store, &authors[0], 0);
        let cost = append_to_file(&store, dir.path(), "news", "hello", &[first]).unwrap();
        assert_eq!(cost.rows_read, 1);
        // Each later reply reads its own row only, with 1 reply before it as with 999.
        for n in 1..1000 {
            let id = reply(&store, &authors[n as usize % 5], n);
            let cost = append_to_file(&store, dir.path(), "news", "hello", &[id]).unwrap();
            assert_eq!(cost.rows_read, 1, "reply {n}");
        }
        // Several at once, as one batch, read one row each.
        let batch: Vec<String> = (1000..1010)
            .map(|n| reply(&store, &authors[0], n))
            .collect();
        let cost = append_to_file(&store, dir.path(), "news", "hello", &batch).unwrap();
        assert_eq!(cost.rows_read, 10);
        // The file is what a rewrite from every row gives, authors included.
        let got = on_disk(dir.path());
        assert_eq!(got.len(), 1010);
        assert_eq!(got, for_post(&store, "news", "hello").unwrap());
        assert_eq!(got[7].author.name.as_deref(), Some("A2"));
        assert_eq!(
            got[7].author.icon.as_deref(),
            Some("https://r.example/a2.png")
        );
    }

    #[test]
    fn can_place_replies_published_out_of_order_reading_only_their_rows() {
        let store = Store::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = author(&store, "a");
        let first = reply(&store, &a, 0);
        append_to_file(&store, dir.path(), "news", "hello", &[first]).unwrap();
        // Published in a scrambled order, three at a time at the same second, in batches of 7.
        let order: Vec<u32> = (1..=300).map(|n| (n * 37) % 301).collect();
        for batch in order.chunks(7) {
            let ids: Vec<String> = batch
                .iter()
                .map(|&n| reply_at(&store, &a, format!("https://r.example/m/{n}"), n / 3))
                .collect();
            let cost = append_to_file(&store, dir.path(), "news", "hello", &ids).unwrap();
            assert_eq!(cost.rows_read, ids.len());
        }
        let got = on_disk(dir.path());
        assert_eq!(got.len(), 301);
        assert_eq!(got, for_post(&store, "news", "hello").unwrap());
    }

    #[test]
    fn can_place_a_reply_that_arrives_out_of_order_and_rewrite_one_that_comes_twice() {
        let store = Store::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = author(&store, "a");
        let ids: Vec<String> = [10, 20].iter().map(|&n| reply(&store, &a, n)).collect();
        append_to_file(&store, dir.path(), "news", "hello", &ids).unwrap();
        // Published before the last one: put in its place, reading its own row only.
        let early = reply(&store, &a, 15);
        let cost = append_to_file(&store, dir.path(), "news", "hello", &[early]).unwrap();
        assert_eq!(cost.rows_read, 1);
        // The same reply again: rewritten, not duplicated.
        let cost = append_to_file(&store, dir.path(), "news", "hello", &[ids[1].clone()]).unwrap();
        assert_eq!(cost.rows_read, 1 + 3);
        let got = on_disk(dir.path());
        let order: Vec<&str> = got.iter().map(|c| c.content_html.as_str()).collect();
        assert_eq!(order, ["<p>10</p>", "<p>15</p>", "<p>20</p>"]);
        // A file in the old layout (pretty-printed) is rewritten whole, then appended to.
        let path = dir.path().join("comments/news/hello.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&got).unwrap()).unwrap();
        let late = reply(&store, &a, 30);
        let cost = append_to_file(&store, dir.path(), "news", "hello", &[late]).unwrap();
        assert_eq!(cost.rows_read, 4);
        assert_eq!(
            on_disk(dir.path()),
            for_post(&store, "news", "hello").unwrap()
        );
    }
}

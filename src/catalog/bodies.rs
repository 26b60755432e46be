//! The HTML of served posts, read back from the store when a post is served rather than held in
//! memory.
//!
//! A post's body is most of what a catalog holds (about 700 of the 1,100 bytes of a kilobyte of
//! Markdown), and it is needed only when the post is served: its page, its Note, an outbox page,
//! an activity about it. The store keeps every served post's rendering anyway (the render
//! cache), so a catalog whose store is on disk lets go of each post's `html` once the store has
//! recorded it, and [`Bodies`] reads it back: one primary-key read of the `posts` table and the
//! JSON's `html` field, about 9 µs (release build, 10,000 posts: an outbox page of 20 posts none
//! of which was read lately answers in 0.87 ms instead of 0.70, a post's Note in 170 µs instead
//! of 164). The last [`RECENT`] bodies read are kept, so a post fetched by every follower's
//! server after its Create, or an outbox page read twice, is read once.
//!
//! What is read back is what was let go: the store writes a post's row before the catalog drops
//! its body, and the row only changes with the post (its render hash). A snapshot older than
//! the store's rows (a rebuild between its commit and its swap) reads the newer body.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use serde::Deserialize;

use crate::content::Post;
use crate::store::Renderings;

/// How many bodies read last are kept, newest first (each about a kilobyte).
pub const RECENT: usize = 64;

/// Reads served posts' bodies back from the store, keeping the last [`RECENT`].
pub struct Bodies {
    renderings: Renderings,
    /// By post: a post is one `Arc` for as long as any snapshot serves it, and the `Weak` keeps
    /// its allocation (never its contents) alive, so no other post can come to have its address.
    recent: Mutex<VecDeque<(Weak<Post>, Arc<str>)>>,
}

/// The one field of a stored rendering read back.
#[derive(Deserialize)]
struct Stored {
    html: String,
}

impl Bodies {
    pub fn new(renderings: Renderings) -> Bodies {
        Bodies {
            renderings,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }

    /// The HTML of `post`, which a catalog built over this store serves. A store that cannot be
    /// read (its file removed or corrupt under the running server) is logged and serves an
    /// empty body rather than failing the request.
    pub fn html(&self, post: &Arc<Post>) -> Arc<str> {
        let same = |(p, _): &(Weak<Post>, Arc<str>)| std::ptr::eq(p.as_ptr(), Arc::as_ptr(post));
        if let Some(hit) = self.lock().iter().find(|e| same(e)) {
            return hit.1.clone();
        }
        let html: Arc<str> = match self.read(post) {
            Ok(html) => html.into(),
            Err(error) => {
                tracing::error!(actor = %post.actor, slug = %post.slug, %error, "cannot read a served post's body back from the store; serving it empty");
                return Arc::from("");
            }
        };
        let mut recent = self.lock();
        if !recent.iter().any(same) {
            if recent.len() == RECENT {
                recent.pop_back();
            }
            recent.push_front((Arc::downgrade(post), html.clone()));
        }
        html
    }

    fn read(&self, post: &Post) -> Result<String, String> {
        let (hash, json) = self
            .renderings
            .rendered(&post.actor, &post.slug)
            .map_err(|e| e.to_string())?
            .ok_or("the store has no rendering of it")?;
        if post.hash != *hash {
            tracing::debug!(actor = %post.actor, slug = %post.slug, "a rebuild recorded a newer rendering of a post this snapshot serves");
        }
        serde_json::from_str::<Stored>(&json)
            .map(|s| s.html)
            .map_err(|e| format!("its stored rendering: {e}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Weak<Post>, Arc<str>)>> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for Bodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bodies")
            .field("renderings", &self.renderings)
            .field("recent", &self.lock().len())
            .finish()
    }
}

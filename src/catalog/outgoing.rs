//! Our posts through the outgoing review (the plugins' `on-outgoing` hook) before they are
//! served and published, so that what GET serves and what followers are sent are one document.
//!
//! The catalog asks a [`Review`] about every post it reads from a file (a new post, an edit,
//! and at a full build every post). The review is a handle the app wires (the plugin host);
//! this module knows no plugin, only moderation's [`OutgoingPost`] in and a [`Reviewed`] out. What it decides:
//! - a veto holds the post back: a post never published is neither served nor sent; an edit of
//!   a published one is not sent and the version followers have stays served. The hold is a
//!   `held_posts` row (`masthead status` shows it with the plugin and its reason) until a build
//!   finds that no plugin vetoes the post any more, which then publishes it like a new post or
//!   an edit. A hold that came from a plugin *failing* (its `on_error`) is marked so
//!   ([`Reviewed::failed`]): the rebuild task reviews such posts again by itself, with backoff
//!   ([`super::rebuild`]), while a decided veto waits for the content or the rules to change;
//! - a content warning becomes the post's own (the Note's `summary`, `sensitive`, the page's
//!   fold);
//! - a rewritten body, and added hashtags (appended as `#tag`s), are rendered like the file's
//!   body (`content::revise`), so the hashtags are links and `Hashtag` tags as the renderer
//!   makes them.
//!
//! A changed post gets render and source hashes of its own, derived from the file's and the
//! change: the store keeps the reviewed post (what followers have), a plugin changing its mind
//! about a published post sends followers an Update, and the render cache never hands an
//! unreviewed rendering back as a reviewed one.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::config::Site;
use crate::content::revise::{self, Source};
use crate::content::{Hash, Post, Visibility};
use crate::moderation::{NoteVisibility, OutgoingPost};
use crate::store::{HeldPost, PendingChange, Store, StoreError};
use crate::urls::Urls;

/// What the review made of a post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewed {
    /// The post as the review left it.
    pub post: OutgoingPost,
    /// Who vetoed it and why: it is held back.
    pub veto: Option<(String, String)>,
    /// The veto is a plugin failing (its `on_error`), not its decision: the hold is reviewed
    /// again by itself.
    pub failed: bool,
    /// Who changed (or vetoed) it.
    pub by: Vec<String>,
}

/// Whatever reviews our posts before they are published.
pub trait Review: Send + Sync {
    /// Whether anything reviews posts at all; when not, files are not read again.
    fn active(&self) -> bool;
    /// The decision on one post.
    fn review(&self, post: OutgoingPost) -> Reviewed;
}

/// No review: every post is published as its file has it.
pub struct Unreviewed;

impl Review for Unreviewed {
    fn active(&self) -> bool {
        false
    }

    fn review(&self, post: OutgoingPost) -> Reviewed {
        Reviewed {
            post,
            veto: None,
            failed: false,
            by: Vec::new(),
        }
    }
}

/// What the review of one post leads to.
pub(super) struct Outcome {
    /// What is served: the post (changed or not), the version followers have (an edit held
    /// back), or nothing (a new post held back).
    pub post: Option<Post>,
    /// The local media of a rewritten body, replacing the file's.
    pub media: Option<Vec<(String, PathBuf)>>,
    pub held: Option<HeldPost>,
}

/// Reviews `post`, just read from its file.
pub(super) fn review(
    site: &Site,
    urls: &Urls,
    store: &Store,
    review: &dyn Review,
    post: Post,
) -> Result<Outcome, StoreError> {
    let source = match revise::read_source(site, &post) {
        Ok(s) => s,
        // The file changed under the scan (it is read again at the next build).
        Err(d) => return held(store, post, "masthead", &d.message, false),
    };
    let reviewed = review.review(OutgoingPost {
        actor: post.actor.to_string(),
        slug: post.slug.to_string(),
        title: post.title.as_deref().map(str::to_string),
        markdown: source.body.clone(),
        hashtags: post.tags.iter().map(|t| t.to_string()).collect(),
        content_warning: post.more().content_warning.clone(),
        visibility: match post.visibility {
            Visibility::Public => NoteVisibility::Public,
            Visibility::Unlisted => NoteVisibility::Unlisted,
            Visibility::Followers => NoteVisibility::Followers,
        },
        language: post.more().lang.clone().unwrap_or_else(|| {
            site.actor(&post.actor)
                .map(|a| site.language_of(a))
                .unwrap_or_else(|| site.language.clone())
        }),
        in_reply_to: post.more().in_reply_to.clone(),
    });
    if let Some((plugin, reason)) = reviewed.veto {
        return held(store, post, &plugin, &reason, reviewed.failed);
    }
    let by = reviewed.by.join(", ");
    let mut post = post;
    match apply(site, urls, &mut post, &source, reviewed.post) {
        Ok(applied) => {
            if applied.changed {
                tracing::info!(actor = %post.actor, slug = %post.slug, plugins = %by, "post changed by outgoing-post plugins");
            }
            Ok(Outcome {
                post: Some(post),
                media: applied.media,
                held: None,
            })
        }
        Err(problem) => held(
            store,
            post,
            &by,
            &format!("the post as the plugin left it cannot be published: {problem}"),
            false,
        ),
    }
}

/// What applying a draft's changes did.
struct Applied {
    media: Option<Vec<(String, PathBuf)>>,
    changed: bool,
}

/// Applies the changes of `draft` (the post as the review left it) to `post`; when the changed
/// post cannot be published (say, its new body names an image that may not be), says why and
/// leaves `post` as it was.
fn apply(
    site: &Site,
    urls: &Urls,
    post: &mut Post,
    source: &Source,
    draft: OutgoingPost,
) -> Result<Applied, String> {
    let added: Vec<String> = draft
        .hashtags
        .iter()
        .map(|t| {
            t.chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|t| !t.is_empty() && !t.chars().all(char::is_numeric))
        .filter(|t| !post.tags.iter().any(|p| p.eq_ignore_ascii_case(t)))
        .collect();
    let warning = draft.content_warning.filter(|w| !w.trim().is_empty());
    let warned = warning != post.more().content_warning;
    let rewritten = draft.markdown != source.body;
    if !warned && !rewritten && added.is_empty() {
        return Ok(Applied {
            media: None,
            changed: false,
        });
    }
    let mut body = None;
    let mut media = None;
    if rewritten || !added.is_empty() {
        let mut markdown = draft.markdown;
        if !added.is_empty() {
            let tags: Vec<String> = added.iter().map(|t| format!("#{t}")).collect();
            markdown = format!("{}\n\n{}\n", markdown.trim_end(), tags.join(" "));
        }
        match revise::rerender(site, urls, post, source, &markdown) {
            Ok(m) => media = Some(m),
            Err(problems) => {
                let first = problems
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                return Err(first);
            }
        }
        body = Some(markdown);
    }
    if warned {
        post.more_mut().content_warning = warning;
        post.tidy();
    }
    let warning = post.more().content_warning.clone();
    let change = [
        warning.as_deref().unwrap_or_default(),
        body.as_deref().unwrap_or_default(),
    ];
    post.hash = derived(&post.hash, &change);
    post.source_hash = derived(&post.source_hash, &change);
    Ok(Applied {
        media,
        changed: true,
    })
}

/// SHA-256 of `hash` (in hex) and `change`, each part length-prefixed.
fn derived(hash: &Hash, change: &[&str]) -> Hash {
    let hash = hash.to_hex();
    let mut h = Sha256::new();
    for part in std::iter::once("outgoing")
        .chain([hash.as_str()])
        .chain(change.iter().copied())
    {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    Hash(h.finalize().into())
}

/// `post` held back by `plugin` (which `failed`, or decided so): a published post keeps the
/// version followers have.
fn held(
    store: &Store,
    post: Post,
    plugin: &str,
    reason: &str,
    failed: bool,
) -> Result<Outcome, StoreError> {
    let published = store.published_post(&post.actor, &post.slug)?;
    let (served, change) = match published {
        Some((json, hash, source_hash)) => {
            let mut old: Post = serde_json::from_str(&json).map_err(|e| {
                store.corrupt(format!("rendered post {}/{}: {e}", post.actor, post.slug))
            })?;
            // Exactly the stored row: the store sees no change and sends nothing.
            let stored = |hex: &str| {
                Hash::from_hex(hex).ok_or_else(|| {
                    let (actor, slug) = (&post.actor, &post.slug);
                    store.corrupt(format!(
                        "post {actor}/{slug}: a hash that is not SHA-256 hex: {hex:?}"
                    ))
                })
            };
            old.hash = stored(&hash)?;
            old.source_hash = stored(&source_hash)?;
            (Some(old), PendingChange::Update)
        }
        None => (None, PendingChange::Create),
    };
    tracing::warn!(
        actor = %post.actor,
        slug = %post.slug,
        plugin = %plugin,
        reason = %reason,
        failed,
        edit = served.is_some(),
        "post held back by a plugin: not published (`masthead status` lists it)"
    );
    Ok(Outcome {
        post: served,
        media: None,
        held: Some(HeldPost {
            actor: post.actor.into(),
            slug: post.slug.into(),
            source: post.source.into(),
            change,
            plugin: plugin.to_string(),
            reason: reason.to_string(),
            failed,
            since: 0,
            next_review: None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::store::PostChange;
    use chrono::{TimeZone, Utc};
    use std::sync::Mutex;

    /// A review that does what the test sets: a warning for every post, or a veto.
    struct Fake(Mutex<(Option<String>, Option<String>)>);

    impl Review for Fake {
        fn active(&self) -> bool {
            true
        }

        fn review(&self, mut post: OutgoingPost) -> Reviewed {
            let (warning, veto) = self.0.lock().unwrap().clone();
            if let Some(reason) = veto {
                return Reviewed {
                    post,
                    veto: Some(("fake".into(), reason)),
                    failed: false,
                    by: vec!["fake".into()],
                };
            }
            post.content_warning = warning.or(post.content_warning);
            Reviewed {
                post,
                veto: None,
                failed: false,
                by: vec!["fake".into()],
            }
        }
    }

    fn set(fake: &Fake, warning: Option<&str>, veto: Option<&str>) {
        *fake.0.lock().unwrap() = (warning.map(Into::into), veto.map(Into::into));
    }

    #[test]
    fn can_publish_what_the_review_decides_and_send_an_update_when_it_changes_its_mind() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("content/news")).unwrap();
        std::fs::write(
            root.join("content/news/old.md"),
            "+++\ndate = 2026-11-01\n+++\nOld.\n",
        )
        .unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n";
        let site = Site::parse(&root.join("site.toml"), text).unwrap().site;
        let urls = Urls::new(&site);
        let store = Store::open_in_memory().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        let fake = Fake(Mutex::new((None, None)));
        let build = |fake: &Fake| Catalog::build_with(&site, &urls, &store, now, fake).unwrap();
        build(&fake);
        std::fs::write(
            root.join("content/news/new.md"),
            "+++\ndate = 2026-11-20\n+++\nNew.\n",
        )
        .unwrap();

        // A veto: the new post is neither served nor recorded; the store says why.
        set(&fake, None, Some("not yet"));
        let (catalog, report) = build(&fake);
        assert!(report.changes.is_empty(), "{:?}", report.changes);
        assert!(catalog.public_post("news", "new").is_none());
        let held = store.held_posts().unwrap();
        let held: Vec<_> = held
            .iter()
            .map(|h| (&*h.slug, h.change, h.reason.as_str()))
            .collect();
        // The published post's (unchanged) version stays served; its edit is what is held.
        assert_eq!(
            held,
            [
                ("new", PendingChange::Create, "not yet"),
                ("old", PendingChange::Update, "not yet")
            ]
        );
        assert!(catalog.public_post("news", "old").is_some());

        // A warning: the post is created with it; the other one is edited to have it.
        set(&fake, Some("Heads up"), None);
        let (catalog, report) = build(&fake);
        let created = PostChange::Created {
            actor: "news".into(),
            slug: "new".into(),
        };
        let updated = PostChange::Updated {
            actor: "news".into(),
            slug: "old".into(),
        };
        assert!(
            report.changes.contains(&created) && report.changes.contains(&updated),
            "{:?}",
            report.changes
        );
        let new = &catalog.public_post("news", "new").unwrap().post;
        assert_eq!(new.more().content_warning.as_deref(), Some("Heads up"));
        assert!(store.held_posts().unwrap().is_empty());

        // The same decision again reads as no change at all.
        let (_, report) = build(&fake);
        assert!(report.changes.is_empty(), "{:?}", report.changes);

        // The review takes the warning back: followers get Updates.
        set(&fake, None, None);
        let (catalog, report) = build(&fake);
        assert_eq!(report.changes.len(), 2, "{:?}", report.changes);
        assert_eq!(
            catalog
                .public_post("news", "new")
                .unwrap()
                .post
                .more()
                .content_warning,
            None
        );
    }
}

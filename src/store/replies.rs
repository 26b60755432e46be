//! `replies` and `reports`: what remote people wrote to us. Replies to our posts and mentions of
//! our actors (content already sanitized by the inbox), and reports (`Flag`) for the operator.
//!
//! Only a `visible` reply is ever shown (pages, the `replies` collection, comments.json: every
//! public query here filters on it). A held reply waits in the moderation queue with its
//! [`Hold`]; a hidden one is kept out of sight without asking anyone; a rejected one is kept so
//! that the same Note sent again stays rejected instead of coming back to the queue.

use chrono::Utc;

use super::queue::{Hold, Queued};
use super::{execute, query_all, Store, StoreError};

/// Whether a reply is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    /// Shown under the post.
    Visible,
    /// Not shown until a person approves it (`masthead queue`).
    Held,
    /// Kept but never shown, and not in the queue unless asked for (`masthead queue --all`).
    Hidden,
    /// Refused by a person: never shown, kept so that a repeat of it stays refused.
    Rejected,
}

impl ReplyStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Visible => "visible",
            ReplyStatus::Held => "held",
            ReplyStatus::Hidden => "hidden",
            ReplyStatus::Rejected => "rejected",
        }
    }

    fn from_column(text: &str) -> Option<ReplyStatus> {
        [
            ReplyStatus::Visible,
            ReplyStatus::Held,
            ReplyStatus::Hidden,
            ReplyStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A stored reply or mention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The remote Note id.
    pub id: String,
    /// The remote actor id.
    pub author: String,
    /// The post answered (our handle and slug), when it is one of ours.
    pub post: Option<(String, String)>,
    /// Our handles mentioned.
    pub mentions: Vec<String>,
    /// `inReplyTo` as received.
    pub in_reply_to: Option<String>,
    /// Sanitized HTML.
    pub content_html: String,
    /// The Note's `url` (its page).
    pub url: Option<String>,
    /// RFC 3339.
    pub published: String,
    /// RFC 3339, after an edit.
    pub updated: Option<String>,
    pub status: ReplyStatus,
    /// Addressed to the public; a reply sent directly or to followers only is never shown, even
    /// when approved.
    pub public: bool,
    /// Who held or hid it and why (kept after a person's decision); none when it never was.
    pub hold: Option<Hold>,
}

/// A report (`Flag`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The Flag id.
    pub id: String,
    /// Who reported (usually the remote instance actor).
    pub reporter: String,
    /// What was reported: actor and post ids.
    pub objects: Vec<String>,
    /// The reporter's comment.
    pub content: Option<String>,
    /// When it arrived (RFC 3339).
    pub received_at: String,
}

pub(super) const COLUMNS: &str =
    "id, author, post_actor, post_slug, mentions, in_reply_to, content_html, url, \
     published, updated, status, public, held_by, held_reason";

/// The columns of `reports` that [`Report::from_row`] reads, in its order.
pub(super) const REPORT_COLUMNS: &str = "id, reporter, objects, content, received_at";

impl Report {
    /// A row selected as [`REPORT_COLUMNS`]; objects that are not a JSON list read as none.
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Report> {
        Ok(Report {
            id: r.get(0)?,
            reporter: r.get(1)?,
            objects: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
            content: r.get(3)?,
            received_at: r.get(4)?,
        })
    }
}

/// [`COLUMNS`] of `replies r`, then the author's cached name, handle, profile URL and `icon`
/// (as JSON), from `remote_actors a`.
const JOINED_COLUMNS: &str =
    "r.id, r.author, r.post_actor, r.post_slug, r.mentions, r.in_reply_to, r.content_html, r.url, \
     r.published, r.updated, r.status, r.public, r.held_by, r.held_reason, \
     a.id, a.name, a.handle, a.url, a.document -> '$.icon'";

/// What a comment shows of a reply's author, as cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyAuthor {
    pub name: Option<String>,
    /// `preferredUsername@host`.
    pub handle: Option<String>,
    /// Profile page.
    pub url: Option<String>,
    /// The `icon` of the actor's document, as JSON (a URL, an `Image`, or a list of them).
    pub icon_json: Option<String>,
}

impl ReplyAuthor {
    /// A row selected as [`JOINED_COLUMNS`].
    fn joined_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Reply, Option<ReplyAuthor>)> {
        let reply = Reply::from_row(r)?;
        let cached: Option<String> = r.get(14)?;
        let author = match cached {
            Some(_) => Some(ReplyAuthor {
                name: r.get(15)?,
                handle: r.get(16)?,
                url: r.get(17)?,
                icon_json: r.get(18)?,
            }),
            None => None,
        };
        Ok((reply, author))
    }
}

impl Reply {
    /// A row selected as [`COLUMNS`].
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Reply> {
        let post_actor: Option<String> = r.get(2)?;
        let post_slug: Option<String> = r.get(3)?;
        let mentions: Option<String> = r.get(4)?;
        Ok(Reply {
            id: r.get(0)?,
            author: r.get(1)?,
            post: post_actor.zip(post_slug),
            mentions: mentions
                .map(|m| m.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            in_reply_to: r.get(5)?,
            content_html: r.get(6)?,
            url: r.get(7)?,
            published: r.get(8)?,
            updated: r.get(9)?,
            status: {
                let text: String = r.get(10)?;
                ReplyStatus::from_column(&text).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        10,
                        rusqlite::types::Type::Text,
                        format!("unknown reply status {text:?}").into(),
                    )
                })?
            },
            public: r.get(11)?,
            hold: Hold::from_columns(r.get(12)?, r.get(13)?),
        })
    }

    /// A row selected as [`COLUMNS`], then `queue_no` and `received_at`.
    fn queued_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Queued<Reply>> {
        Ok(Queued {
            no: r.get::<_, i64>(14)? as u64,
            received_at: r.get(15)?,
            item: Reply::from_row(r)?,
        })
    }
}

impl Store {
    /// Stores a reply; one that is not visible gets a queue number, and `r.hold` says who held or
    /// hid it and why (the inbox and plugins hold a reply through here). A reply id already stored
    /// is left alone unless `author` wrote it (then its content is replaced: a Create repeated
    /// with new content); its status and hold stay as they were, so a repeat of a rejected reply
    /// stays rejected and a held one stays in the queue under its number. Returns whether it was
    /// stored.
    pub fn upsert_reply(&self, r: &Reply) -> Result<bool, StoreError> {
        let (post_actor, post_slug) = match &r.post {
            Some((a, s)) => (Some(a.as_str()), Some(s.as_str())),
            None => (None, None),
        };
        let sql = format!(
            "INSERT INTO replies ({COLUMNS}, received_at, queue_no)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (id) DO UPDATE SET
               content_html = excluded.content_html, updated = excluded.updated,
               url = excluded.url
             WHERE replies.author = excluded.author"
        );
        let held = r.status != ReplyStatus::Visible;
        let n = self.with_queue_number(held, |tx, no| {
            execute(
                tx,
                &sql,
                rusqlite::params![
                    r.id,
                    r.author,
                    post_actor,
                    post_slug,
                    (!r.mentions.is_empty()).then(|| r.mentions.join(",")),
                    r.in_reply_to,
                    r.content_html,
                    r.url,
                    r.published,
                    r.updated,
                    r.status.as_str(),
                    r.public,
                    r.hold.as_ref().map(|h| h.by.to_column()),
                    r.hold.as_ref().map(|h| h.reason.as_str()),
                    Utc::now().to_rfc3339(),
                    no,
                ],
            )
        })?;
        Ok(n > 0)
    }

    /// Replies and mentions in the queue with one of `statuses`, by number.
    pub fn queued_replies(
        &self,
        statuses: &[ReplyStatus],
    ) -> Result<Vec<Queued<Reply>>, StoreError> {
        let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let wanted = serde_json::to_string(&wanted).unwrap_or_else(|_| "[]".into());
        self.query_all(
            &format!(
                "SELECT {COLUMNS}, queue_no, received_at FROM replies
                 WHERE queue_no IS NOT NULL AND status IN (SELECT value FROM json_each(?1))
                 ORDER BY queue_no"
            ),
            [wanted],
            Reply::queued_from_row,
        )
    }

    /// The reply or mention with queue number `no`, whatever its status now.
    pub fn queued_reply(&self, no: u64) -> Result<Option<Queued<Reply>>, StoreError> {
        self.query_opt(
            &format!("SELECT {COLUMNS}, queue_no, received_at FROM replies WHERE queue_no = ?1"),
            [no as i64],
            Reply::queued_from_row,
        )
    }

    /// A person's decision on a reply: `Visible` (approved) or `Rejected`. Its hold is kept, to
    /// say why it was held. False when there is no such reply.
    pub fn set_reply_status(&self, id: &str, status: ReplyStatus) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE replies SET status = ?2 WHERE id = ?1",
            (id, status.as_str()),
        )?;
        Ok(n > 0)
    }

    /// One stored reply.
    pub fn reply(&self, id: &str) -> Result<Option<Reply>, StoreError> {
        self.query_opt(
            &format!("SELECT {COLUMNS} FROM replies WHERE id = ?1"),
            [id],
            Reply::from_row,
        )
    }

    /// Applies an edit by `author`; false when there is no such reply by them.
    pub fn update_reply(
        &self,
        id: &str,
        author: &str,
        content_html: &str,
        updated: &str,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE replies SET content_html = ?3, updated = ?4 WHERE id = ?1 AND author = ?2",
            (id, author, content_html, updated),
        )?;
        Ok(n > 0)
    }

    /// Takes a reply by `author` out of sight (an edit a rule holds or hides): `status` is
    /// `Held` or `Hidden`, `hold` says who and why, and the reply gets a queue number unless it
    /// has one. False when there is no such reply by them.
    pub fn hold_reply(
        &self,
        id: &str,
        author: &str,
        status: ReplyStatus,
        hold: &Hold,
    ) -> Result<bool, StoreError> {
        let n = self.with_queue_number(true, |tx, no| {
            execute(
                tx,
                "UPDATE replies SET status = ?3, held_by = ?4, held_reason = ?5,
                   queue_no = COALESCE(queue_no, ?6)
                 WHERE id = ?1 AND author = ?2",
                rusqlite::params![
                    id,
                    author,
                    status.as_str(),
                    hold.by.to_column(),
                    hold.reason,
                    no
                ],
            )
        })?;
        Ok(n > 0)
    }

    /// Removes a reply, only if `author` wrote it. Returns it when it existed.
    pub fn delete_reply(&self, id: &str, author: &str) -> Result<Option<Reply>, StoreError> {
        let Some(reply) = self.reply(id)?.filter(|r| r.author == author) else {
            return Ok(None);
        };
        self.execute(
            "DELETE FROM replies WHERE id = ?1 AND author = ?2",
            (id, author),
        )?;
        Ok(Some(reply))
    }

    /// Removes every reply by `author`; returns the posts whose replies changed.
    pub fn delete_replies_by(&self, author: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.transaction(|tx| {
            let posts = query_all(
                tx,
                "SELECT DISTINCT post_actor, post_slug FROM replies
                 WHERE author = ?1 AND post_actor IS NOT NULL AND post_slug IS NOT NULL",
                [author],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
            execute(tx, "DELETE FROM replies WHERE author = ?1", [author]).map_err(self.err())?;
            Ok(posts)
        })
    }

    /// Visible replies to one post, oldest first (by `published`, then in the order they were
    /// stored: a comments file keeps this order by appending).
    pub fn replies_to(&self, post_actor: &str, post_slug: &str) -> Result<Vec<Reply>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {COLUMNS} FROM replies WHERE post_actor = ?1 AND post_slug = ?2
                 AND status = 'visible' ORDER BY published, rowid"
            ),
            (post_actor, post_slug),
            Reply::from_row,
        )
    }

    /// The visible replies to one post, oldest first, each with what is cached of its author:
    /// one query, the authors joined (a comments file is built from this without reading each
    /// author's document).
    pub fn replies_with_authors(
        &self,
        post_actor: &str,
        post_slug: &str,
    ) -> Result<Vec<(Reply, Option<ReplyAuthor>)>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {JOINED_COLUMNS} FROM replies r LEFT JOIN remote_actors a ON a.id = r.author
                 WHERE r.post_actor = ?1 AND r.post_slug = ?2 AND r.status = 'visible'
                 ORDER BY r.published, r.rowid"
            ),
            (post_actor, post_slug),
            ReplyAuthor::joined_from_row,
        )
    }

    /// One reply with what is cached of its author, by id.
    pub fn reply_with_author(
        &self,
        id: &str,
    ) -> Result<Option<(Reply, Option<ReplyAuthor>)>, StoreError> {
        self.query_opt(
            &format!(
                "SELECT {JOINED_COLUMNS} FROM replies r LEFT JOIN remote_actors a ON a.id = r.author
                 WHERE r.id = ?1"
            ),
            [id],
            ReplyAuthor::joined_from_row,
        )
    }

    /// Every stored reply and mention, newest first (held, hidden and rejected ones included).
    pub fn all_replies(&self) -> Result<Vec<Reply>, StoreError> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM replies ORDER BY published DESC, id"),
            [],
            Reply::from_row,
        )
    }

    /// Number of visible replies to one post.
    pub fn reply_count(&self, post_actor: &str, post_slug: &str) -> Result<u64, StoreError> {
        // An aggregate: always one row.
        let n = self.query_opt(
            "SELECT COUNT(*) FROM replies WHERE post_actor = ?1 AND post_slug = ?2
             AND status = 'visible'",
            (post_actor, post_slug),
            |r| r.get::<_, i64>(0),
        )?;
        Ok(n.unwrap_or_default() as u64)
    }

    /// Keeps a report; false when its id was stored before.
    pub fn add_report(&self, r: &Report) -> Result<bool, StoreError> {
        let objects = serde_json::to_string(&r.objects).unwrap_or_else(|_| "[]".into());
        let n = self.execute(
            "INSERT OR IGNORE INTO reports (id, reporter, objects, content, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            (&r.id, &r.reporter, objects, &r.content, &r.received_at),
        )?;
        Ok(n > 0)
    }

    /// Every report, newest first.
    pub fn reports(&self) -> Result<Vec<Report>, StoreError> {
        self.query_all(
            &format!("SELECT {REPORT_COLUMNS} FROM reports ORDER BY received_at DESC, id"),
            [],
            Report::from_row,
        )
    }

    /// Keeps at most `per_host_per_day` reports from each reporter host on each UTC day (the
    /// first that arrived); the rest are deleted. Returns how many went. One server cannot bury
    /// the operator's list, or the disk, under reports.
    pub fn prune_reports(&self, per_host_per_day: usize) -> Result<usize, StoreError> {
        let rows: Vec<(String, String, String)> = self.query_all(
            "SELECT id, reporter, received_at FROM reports ORDER BY received_at, id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut seen: std::collections::HashMap<(String, String), usize> = Default::default();
        let over: Vec<String> = rows
            .into_iter()
            .filter_map(|(id, reporter, received_at)| {
                let day = received_at.get(..10).unwrap_or(&received_at).to_string();
                let n = seen.entry((super::inbox_host(&reporter), day)).or_default();
                *n += 1;
                (*n > per_host_per_day).then_some(id)
            })
            .collect();
        self.transaction(|tx| {
            for id in &over {
                execute(tx, "DELETE FROM reports WHERE id = ?1", [id]).map_err(self.err())?;
            }
            Ok(over.len())
        })
    }
}

#[cfg(test)]
impl Reply {
    /// A visible public reply `id` by `author` to news/hello, `<p>hi</p>` published at
    /// 2026-11-20T10:00:00Z and nothing else set: the tests of every room change only what they
    /// are about.
    pub(crate) fn example(id: &str, author: &str) -> Reply {
        Reply {
            id: id.into(),
            author: author.into(),
            post: Some(("news".into(), "hello".into())),
            mentions: vec![],
            in_reply_to: None,
            content_html: "<p>hi</p>".into(),
            url: None,
            published: "2026-11-20T10:00:00Z".into(),
            updated: None,
            status: ReplyStatus::Visible,
            public: true,
            hold: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: &str, author: &str) -> Reply {
        Reply {
            mentions: vec!["news".into()],
            in_reply_to: Some("https://s.example/users/news/posts/hello".into()),
            ..Reply::example(id, author)
        }
    }

    #[test]
    fn can_store_edit_and_delete_a_reply_by_its_author_only() {
        let s = Store::open_in_memory().unwrap();
        let a = "https://r.example/u/a";
        let b = "https://r.example/u/b";
        assert!(s.upsert_reply(&reply("https://r.example/n/1", a)).unwrap());
        // Someone else cannot overwrite it under the same id.
        let mut forged = reply("https://r.example/n/1", b);
        forged.content_html = "<p>forged</p>".into();
        assert!(!s.upsert_reply(&forged).unwrap());
        assert!(!s
            .update_reply(
                "https://r.example/n/1",
                b,
                "<p>x</p>",
                "2026-11-21T00:00:00Z"
            )
            .unwrap());
        assert!(s
            .update_reply(
                "https://r.example/n/1",
                a,
                "<p>edited</p>",
                "2026-11-21T00:00:00Z"
            )
            .unwrap());
        let got = s.replies_to("news", "hello").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].content_html, "<p>edited</p>");
        assert_eq!(got[0].mentions, vec!["news".to_string()]);
        assert!(s
            .delete_reply("https://r.example/n/1", b)
            .unwrap()
            .is_none());
        assert!(s
            .delete_reply("https://r.example/n/1", a)
            .unwrap()
            .is_some());
        assert_eq!(s.reply_count("news", "hello").unwrap(), 0);
    }

    #[test]
    fn can_hide_held_replies_and_drop_an_authors_replies() {
        let s = Store::open_in_memory().unwrap();
        let mut held = reply("https://r.example/n/2", "https://r.example/u/a");
        held.status = ReplyStatus::Held;
        s.upsert_reply(&held).unwrap();
        s.upsert_reply(&reply("https://r.example/n/3", "https://r.example/u/a"))
            .unwrap();
        assert_eq!(s.reply_count("news", "hello").unwrap(), 1);
        assert_eq!(s.all_replies().unwrap().len(), 2);
        assert_eq!(
            s.delete_replies_by("https://r.example/u/a").unwrap(),
            vec![("news".to_string(), "hello".to_string())]
        );
        assert!(s.all_replies().unwrap().is_empty());
    }

    fn held(id: &str, status: ReplyStatus, reason: &str) -> Reply {
        Reply {
            status,
            hold: Some(Hold::new(
                crate::store::HeldBy::Plugin("spam-words".into()),
                reason,
            )),
            ..reply(id, "https://r.example/u/a")
        }
    }

    #[test]
    fn can_hold_a_reply_with_a_reason_under_a_number_until_it_is_approved() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_reply(&reply("https://r.example/n/1", "https://r.example/u/a"))
            .unwrap();
        s.upsert_reply(&held("https://r.example/n/2", ReplyStatus::Held, "casino"))
            .unwrap();
        s.upsert_reply(&held("https://r.example/n/3", ReplyStatus::Held, "crypto"))
            .unwrap();
        let queue = s.queued_replies(&[ReplyStatus::Held]).unwrap();
        let got: Vec<(u64, &str, &str)> = queue
            .iter()
            .map(|q| {
                let hold = q.item.hold.as_ref().unwrap();
                (q.no, q.item.id.as_str(), hold.reason.as_str())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "https://r.example/n/2", "casino"),
                (2, "https://r.example/n/3", "crypto")
            ]
        );
        assert_eq!(s.reply_count("news", "hello").unwrap(), 1);
        // Sent again, a held reply keeps its number and stays held.
        s.upsert_reply(&held("https://r.example/n/2", ReplyStatus::Visible, "x"))
            .unwrap();
        assert_eq!(
            s.queued_reply(1).unwrap().unwrap().item.status,
            ReplyStatus::Held
        );

        assert!(s
            .set_reply_status("https://r.example/n/2", ReplyStatus::Visible)
            .unwrap());
        assert_eq!(s.replies_to("news", "hello").unwrap().len(), 2);
        assert_eq!(s.queued_replies(&[ReplyStatus::Held]).unwrap().len(), 1);
        assert!(!s
            .set_reply_status("https://r.example/n/9", ReplyStatus::Visible)
            .unwrap());
    }

    #[test]
    fn can_keep_hidden_and_rejected_replies_out_of_sight_for_good() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_reply(&held(
            "https://r.example/n/1",
            ReplyStatus::Hidden,
            "casino",
        ))
        .unwrap();
        s.upsert_reply(&held("https://r.example/n/2", ReplyStatus::Held, "casino"))
            .unwrap();
        s.set_reply_status("https://r.example/n/2", ReplyStatus::Rejected)
            .unwrap();
        // The same Note again: it stays rejected, and out of the queue.
        s.upsert_reply(&reply("https://r.example/n/2", "https://r.example/u/a"))
            .unwrap();
        assert!(s.replies_to("news", "hello").unwrap().is_empty());
        assert_eq!(s.reply_count("news", "hello").unwrap(), 0);
        assert!(s.queued_replies(&[ReplyStatus::Held]).unwrap().is_empty());
        let all: Vec<(u64, ReplyStatus)> = s
            .queued_replies(&[
                ReplyStatus::Held,
                ReplyStatus::Hidden,
                ReplyStatus::Rejected,
            ])
            .unwrap()
            .into_iter()
            .map(|q| (q.no, q.item.status))
            .collect();
        assert_eq!(
            all,
            vec![(1, ReplyStatus::Hidden), (2, ReplyStatus::Rejected)]
        );
    }

    #[test]
    fn can_keep_reports_once() {
        let s = Store::open_in_memory().unwrap();
        let r = Report {
            id: "https://r.example/flag/1".into(),
            reporter: "https://r.example/actor".into(),
            objects: vec!["https://s.example/users/news".into()],
            content: Some("spam".into()),
            received_at: "2026-11-20T10:00:00Z".into(),
        };
        assert!(s.add_report(&r).unwrap());
        assert!(!s.add_report(&r).unwrap());
        assert_eq!(s.reports().unwrap(), vec![r]);
    }

    #[test]
    fn can_cap_reports_per_host_per_day() {
        let s = Store::open_in_memory().unwrap();
        let report = |n: u32, host: &str, at: &str| Report {
            id: format!("https://{host}/flag/{n}"),
            reporter: format!("https://{host}/actor"),
            objects: vec![],
            content: None,
            received_at: at.into(),
        };
        for (n, host, at) in [
            (1, "r.example", "2026-11-20T10:00:00Z"),
            (2, "r.example", "2026-11-20T11:00:00Z"),
            (3, "r.example", "2026-11-20T12:00:00Z"),
            (4, "r.example", "2026-11-21T10:00:00Z"),
            (5, "other.example", "2026-11-20T13:00:00Z"),
        ] {
            s.add_report(&report(n, host, at)).unwrap();
        }
        assert_eq!(s.prune_reports(2).unwrap(), 1);
        let mut ids: Vec<String> = s.reports().unwrap().into_iter().map(|r| r.id).collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "https://other.example/flag/5",
                "https://r.example/flag/1",
                "https://r.example/flag/2",
                "https://r.example/flag/4",
            ]
        );
    }
}

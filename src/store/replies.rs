//! `replies` and `reports`: what remote people wrote to us. Replies to our posts and mentions of
//! our actors (content already sanitized by the inbox), and reports (`Flag`) for the operator.

use chrono::Utc;

use super::{execute, query_all, Store, StoreError};

/// Whether a reply is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    /// Shown under the post.
    Visible,
    /// Kept but not shown (its author's domain is silenced).
    Held,
}

impl ReplyStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Visible => "visible",
            ReplyStatus::Held => "held",
        }
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

const COLUMNS: &str =
    "id, author, post_actor, post_slug, mentions, in_reply_to, content_html, url, published, updated, status";

impl Reply {
    /// A row selected as [`COLUMNS`].
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Reply> {
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
            status: if r.get::<_, String>(10)? == "held" {
                ReplyStatus::Held
            } else {
                ReplyStatus::Visible
            },
        })
    }
}

impl Store {
    /// Stores a reply. A reply id already stored is left alone unless `author` wrote it (then it is
    /// replaced: a Create repeated with new content). Returns whether it was stored.
    pub fn upsert_reply(&self, r: &Reply) -> Result<bool, StoreError> {
        let (post_actor, post_slug) = match &r.post {
            Some((a, s)) => (Some(a.as_str()), Some(s.as_str())),
            None => (None, None),
        };
        let n = self.execute(
            &format!(
                "INSERT INTO replies ({COLUMNS}, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (id) DO UPDATE SET
                   content_html = excluded.content_html, updated = excluded.updated,
                   url = excluded.url
                 WHERE replies.author = excluded.author"
            ),
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
                Utc::now().to_rfc3339(),
            ],
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

    /// Visible replies to one post, oldest first.
    pub fn replies_to(&self, post_actor: &str, post_slug: &str) -> Result<Vec<Reply>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {COLUMNS} FROM replies WHERE post_actor = ?1 AND post_slug = ?2
                 AND status = 'visible' ORDER BY published, id"
            ),
            (post_actor, post_slug),
            Reply::from_row,
        )
    }

    /// Every stored reply and mention, newest first (held ones included).
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
            "SELECT id, reporter, objects, content, received_at FROM reports
             ORDER BY received_at DESC, id",
            [],
            |r| {
                Ok(Report {
                    id: r.get(0)?,
                    reporter: r.get(1)?,
                    objects: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                    content: r.get(3)?,
                    received_at: r.get(4)?,
                })
            },
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
mod tests {
    use super::*;

    fn reply(id: &str, author: &str) -> Reply {
        Reply {
            id: id.into(),
            author: author.into(),
            post: Some(("news".into(), "hello".into())),
            mentions: vec!["news".into()],
            in_reply_to: Some("https://s.example/users/news/posts/hello".into()),
            content_html: "<p>hi</p>".into(),
            url: None,
            published: "2026-11-20T10:00:00Z".into(),
            updated: None,
            status: ReplyStatus::Visible,
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

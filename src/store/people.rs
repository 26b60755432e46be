//! One remote person across every table: what the store holds about them ([`Store::person`],
//! an access request, GDPR article 15) and forgetting it in one transaction
//! ([`Store::forget_person`], an erasure request, article 17). Printing it and rewriting the
//! comments files is the caller's (`admin`, `commands::people`).
//!
//! A person is their actor id. The columns that can hold a remote person's id or data:
//!
//! | table | column(s) | erased |
//! |---|---|---|
//! | `followers` | `follower`, `follow_id`, `inbox`, `shared_inbox`, `held_reason` | the rows |
//! | `replies` | `author`; the Note's `id`, `content_html`, `url`, `in_reply_to`, `published` | the rows |
//! | `interactions` | `actor` (a Like or Announce and its `activity_id`) | the rows |
//! | `reports` | `reporter`, `content` | the rows they filed |
//! | `reports` | `objects` (someone else's report naming them) | listed, kept: another's report |
//! | `remote_actors` | `id`, `handle`, `name`, `url`, `inbox`, `key_id`, `document` | the row |
//! | `remote_refs` | `actor_id`, `key` (`acct:user@host`), `name` | the rows naming them |
//! | `inbox_activities` | `signer`, or the body's `actor`; `id`, `body` | the rows |
//! | `deliveries` | `inbox`, when it is their personal inbox (no one else we know uses it) | the rows, any state |
//! | `auto_replies` | `addressee`, `object` (a plugin's answer sent to them as our actor) | the rows |
//! | `plugin_kv` | `key`, when it contains their actor id (the one rule: values are opaque) | the rows |
//! | `plugin_marks` | `item`, when it is one of their replies or Follows | the rows |
//!
//! `hosts` is kept per server, not per person; our own tables (`posts`, `held_posts`,
//! `pending_publications`, `actor_keys`) hold what our actors published.
//!
//! A shared inbox is never theirs: a delivery is theirs only when its inbox is their `inbox`
//! and no other actor the store knows (cached, following, or named by a resolved mention)
//! uses it as inbox or shared inbox. Erasure is not a block: a new activity from them is
//! stored again like anyone's.

use rusqlite::Connection;

use super::deliveries::{drop_unused_bodies, COLUMNS as DELIVERY_COLUMNS, ROWS as DELIVERY_ROWS};
use super::followers::COLUMNS as FOLLOWER_COLUMNS;
use super::remote_actors::COLUMNS as ACTOR_COLUMNS;
use super::replies::{COLUMNS as REPLY_COLUMNS, REPORT_COLUMNS};
use super::{
    execute, query_all, query_opt, AutoReply, Delivery, Follower, InteractionKind, NewDelivery,
    PluginMark, RemoteActor, Reply, Report, Store, StoreError,
};

/// Everything the store holds about one remote actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonData {
    /// The actor id.
    pub actor: String,
    /// Their follows of our actors, pending or accepted.
    pub follows: Vec<Follower>,
    /// Their replies and mentions, whatever their moderation state, oldest first.
    pub replies: Vec<PersonReply>,
    /// Their likes and boosts of our posts.
    pub interactions: Vec<PersonInteraction>,
    /// Reports they filed.
    pub reports_filed: Vec<Report>,
    /// Reports others filed that name them (kept: they are the reporter's and the operator's).
    pub reports_naming: Vec<Report>,
    /// Their actor document as last fetched.
    pub actor_document: Option<RemoteActor>,
    /// Mentions and replies of our posts resolved to them.
    pub refs: Vec<PersonRef>,
    /// Activities they sent, kept to refuse a repeat or to be processed.
    pub inbox_activities: Vec<PersonActivity>,
    /// Deliveries to their personal inbox, any state.
    pub deliveries: Vec<Delivery>,
    /// Answers plugins sent them as our actors.
    pub auto_replies: Vec<AutoReply>,
    /// Plugin key-value rows whose key contains their actor id.
    pub plugin_kv: Vec<PluginKv>,
    /// Plugin labels and notes on their replies and follows.
    pub plugin_marks: Vec<ItemMark>,
}

impl PersonData {
    /// Whether the store holds nothing about them.
    pub fn is_empty(&self) -> bool {
        self.follows.is_empty()
            && self.replies.is_empty()
            && self.interactions.is_empty()
            && self.reports_filed.is_empty()
            && self.reports_naming.is_empty()
            && self.actor_document.is_none()
            && self.refs.is_empty()
            && self.inbox_activities.is_empty()
            && self.deliveries.is_empty()
            && self.auto_replies.is_empty()
            && self.plugin_kv.is_empty()
            && self.plugin_marks.is_empty()
    }
}

/// A reply or mention, and when it arrived (RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonReply {
    pub reply: Reply,
    pub received_at: String,
}

/// A like or boost of one of our posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonInteraction {
    /// The Like or Announce id.
    pub activity_id: String,
    pub kind: InteractionKind,
    /// Our handle and the post's slug.
    pub post: (String, String),
    /// RFC 3339.
    pub created_at: String,
}

/// A `remote_refs` row naming them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRef {
    /// `acct:user@host` or a note URL.
    pub key: String,
    /// `@user@host`.
    pub name: Option<String>,
    /// Unix ms.
    pub resolved_at: i64,
}

/// An inbox activity they sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonActivity {
    pub id: String,
    /// The activity `type`.
    pub kind: String,
    /// Our handle for a personal inbox.
    pub recipient: Option<String>,
    /// `queued`, `done` or `failed`.
    pub state: String,
    /// Unix ms.
    pub received_at: i64,
    /// The JSON as received.
    pub body: String,
}

/// A plugin's key-value row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginKv {
    pub plugin: String,
    pub key: String,
    pub value: Vec<u8>,
    /// Unix ms; none for a row kept until deleted.
    pub expires_at: Option<i64>,
}

/// A plugin's label or note on an item (a reply or Follow id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemMark {
    pub item: String,
    pub mark: PluginMark,
}

/// An activity to queue, in the erasing transaction, to a follow being forgotten: a `Reject` of
/// their Follow, so that their server stops showing them as following. It is signed by the
/// followed actor and sent to the follow's inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parting {
    pub activity_id: String,
    /// The JSON body, as it will be sent.
    pub body: String,
}

/// What [`Store::forget_person`] erased, table by table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// The follows erased, and whether a [`Parting`] was queued for each.
    pub follows: Vec<(Follower, bool)>,
    pub replies: usize,
    /// The posts their replies answered (handle, slug): their comments files are to be
    /// written again.
    pub posts: Vec<(String, String)>,
    pub interactions: usize,
    pub reports: usize,
    pub actor_document: bool,
    pub refs: usize,
    pub inbox_activities: usize,
    pub deliveries: usize,
    pub auto_replies: usize,
    pub plugin_kv: usize,
    pub plugin_marks: usize,
}

impl Forgotten {
    /// Whether nothing was erased.
    pub fn is_empty(&self) -> bool {
        *self == Forgotten::default()
    }
}

/// Their personal inboxes (?1 is the actor id): the `inbox` their document or a follow gave,
/// unless another actor the store knows delivers through it.
const PERSONAL_INBOXES: &str = "
    SELECT inbox FROM (SELECT inbox FROM remote_actors WHERE id = ?1
                       UNION SELECT inbox FROM followers WHERE follower = ?1)
    WHERE inbox NOT IN (
      SELECT inbox FROM remote_actors WHERE id <> ?1
      UNION SELECT shared_inbox FROM remote_actors WHERE id <> ?1 AND shared_inbox IS NOT NULL
      UNION SELECT inbox FROM followers WHERE follower <> ?1
      UNION SELECT shared_inbox FROM followers WHERE follower <> ?1 AND shared_inbox IS NOT NULL
      UNION SELECT inbox FROM remote_refs
            WHERE inbox IS NOT NULL AND (actor_id IS NULL OR actor_id <> ?1))";

/// Inbox activities they sent (?1): signed by them, or naming them as the actor (a relayed or
/// forwarded activity). Bodies were parsed when received; `json_valid` keeps a bad row from
/// failing the query.
const THEIR_ACTIVITIES: &str = "signer = ?1 OR (json_valid(body)
      AND (body ->> '$.actor' = ?1 OR body ->> '$.actor.id' = ?1))";

/// Reply and Follow ids of theirs that plugins may have marked (?1).
const THEIR_ITEMS: &str = "SELECT id FROM replies WHERE author = ?1
      UNION SELECT follow_id FROM followers WHERE follower = ?1";

/// `remote_refs` rows naming them (?1, and ?2 their `acct:` key when their handle is known).
const THEIR_REFS: &str = "actor_id = ?1 OR (?2 IS NOT NULL AND key = ?2)";

/// The rule for plugin keys: the key contains the actor id (?1).
const THEIR_KV: &str = "instr(key, ?1) > 0";

impl Store {
    /// The actor ids the store knows by the handle `user@host` (a leading `@` or `acct:` is
    /// ignored, case too): from cached actor documents and resolved mentions.
    pub fn actors_by_handle(&self, handle: &str) -> Result<Vec<String>, StoreError> {
        let handle = handle.trim();
        let handle = handle.strip_prefix("acct:").unwrap_or(handle);
        let handle = handle.trim_start_matches('@').to_lowercase();
        self.query_all(
            "SELECT id FROM remote_actors WHERE lower(handle) = ?1
             UNION SELECT actor_id FROM remote_refs WHERE actor_id IS NOT NULL
               AND (lower(key) = 'acct:' || ?1 OR lower(name) = '@' || ?1)
             ORDER BY 1",
            [handle],
            |r| r.get(0),
        )
    }

    /// Everything the store holds about `actor` (an actor id), read in one snapshot.
    pub fn person(&self, actor: &str) -> Result<PersonData, StoreError> {
        let conn = self.reader();
        let tx = conn.unchecked_transaction().map_err(self.err())?;
        read_person(&tx, actor).map_err(self.err())
    }

    /// Erases everything the store holds about `actor` (see the module docs for what and the
    /// rules), in one transaction. Each follow of theirs is first answered by `parting` (a
    /// `Reject` queued to the follow's inbox, after their personal inbox's other deliveries are
    /// erased), so their server stops showing the follow; `None` queues nothing for it.
    pub fn forget_person(
        &self,
        actor: &str,
        now_ms: i64,
        parting: impl Fn(&Follower) -> Option<Parting>,
    ) -> Result<Forgotten, StoreError> {
        let forgotten = self.transaction(|tx| {
            let err = self.err();
            let handle: Option<String> = query_opt(
                tx,
                "SELECT handle FROM remote_actors WHERE id = ?1",
                [actor],
                |r| r.get(0),
            )
            .map_err(&err)?
            .flatten();
            let acct = handle.map(|h| format!("acct:{h}"));
            let inboxes: Vec<String> =
                query_all(tx, PERSONAL_INBOXES, [actor], |r| r.get(0)).map_err(&err)?;
            let follows: Vec<Follower> = query_all(
                tx,
                &format!(
                    "SELECT {FOLLOWER_COLUMNS} FROM followers WHERE follower = ?1 ORDER BY actor"
                ),
                [actor],
                Follower::from_row,
            )
            .map_err(&err)?;
            let posts: Vec<(String, String)> = query_all(
                tx,
                "SELECT DISTINCT post_actor, post_slug FROM replies
                 WHERE author = ?1 AND post_actor IS NOT NULL AND post_slug IS NOT NULL
                 ORDER BY 1, 2",
                [actor],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(&err)?;
            let mut out = Forgotten {
                posts,
                ..Forgotten::default()
            };
            let delete = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
                execute(tx, sql, params).map_err(self.err())
            };
            out.plugin_marks = delete(
                &format!("DELETE FROM plugin_marks WHERE item IN ({THEIR_ITEMS})"),
                &[&actor],
            )?;
            out.replies = delete("DELETE FROM replies WHERE author = ?1", &[&actor])?;
            delete("DELETE FROM followers WHERE follower = ?1", &[&actor])?;
            out.interactions = delete("DELETE FROM interactions WHERE actor = ?1", &[&actor])?;
            out.reports = delete("DELETE FROM reports WHERE reporter = ?1", &[&actor])?;
            out.actor_document = delete("DELETE FROM remote_actors WHERE id = ?1", &[&actor])? > 0;
            out.refs = delete(
                &format!("DELETE FROM remote_refs WHERE {THEIR_REFS}"),
                &[&actor, &acct],
            )?;
            out.inbox_activities = erase_activities(tx, actor).map_err(&err)?;
            out.auto_replies = delete("DELETE FROM auto_replies WHERE addressee = ?1", &[&actor])?;
            out.plugin_kv = delete(
                &format!("DELETE FROM plugin_kv WHERE {THEIR_KV}"),
                &[&actor],
            )?;
            for inbox in &inboxes {
                out.deliveries += delete("DELETE FROM deliveries WHERE inbox = ?1", &[inbox])?;
            }
            drop_unused_bodies(tx).map_err(&err)?;
            for follow in follows {
                let queued = match parting(&follow) {
                    Some(p) => {
                        let delivery = NewDelivery {
                            activity_id: &p.activity_id,
                            object_id: None,
                            actor: &follow.actor,
                            body: &p.body,
                        };
                        self.insert_deliveries(
                            tx,
                            &delivery,
                            std::slice::from_ref(&follow.inbox),
                            now_ms,
                        )?;
                        true
                    }
                    None => false,
                };
                out.follows.push((follow, queued));
            }
            Ok(out)
        });
        // This process's copy of their document goes with the row (a running server's copy:
        // see `admin::forget_person`).
        self.actors.forget(actor);
        forgotten
    }
}

/// Erases the inbox activities they sent; returns how many. The row with the largest rowid is
/// emptied instead of deleted: SQLite would hand its rowid out again, behind the position of a
/// running server's inbox dispatcher (see `Store::prune_inbox_activities`).
fn erase_activities(conn: &Connection, actor: &str) -> rusqlite::Result<usize> {
    let newest: Option<i64> =
        query_opt(conn, "SELECT MAX(rowid) FROM inbox_activities", [], |r| {
            r.get(0)
        })?
        .flatten();
    let emptied = execute(
        conn,
        &format!(
            "UPDATE inbox_activities SET id = 'erased:' || rowid, signer = '', recipient = NULL,
               type = '', body = '{{}}', signature = '', state = 'done', error = NULL
             WHERE rowid = ?2 AND ({THEIR_ACTIVITIES})"
        ),
        (actor, newest),
    )?;
    let deleted = execute(
        conn,
        &format!("DELETE FROM inbox_activities WHERE {THEIR_ACTIVITIES}"),
        [actor],
    )?;
    Ok(emptied + deleted)
}

fn read_person(conn: &Connection, actor: &str) -> rusqlite::Result<PersonData> {
    let actor_document: Option<RemoteActor> = query_opt(
        conn,
        &format!("SELECT {ACTOR_COLUMNS} FROM remote_actors WHERE id = ?1"),
        [actor],
        RemoteActor::from_row,
    )?;
    let acct = actor_document
        .as_ref()
        .and_then(|a| a.handle.as_ref())
        .map(|h| format!("acct:{h}"));
    Ok(PersonData {
        actor: actor.to_string(),
        follows: query_all(
            conn,
            &format!("SELECT {FOLLOWER_COLUMNS} FROM followers WHERE follower = ?1 ORDER BY created_at, actor"),
            [actor],
            Follower::from_row,
        )?,
        replies: query_all(
            conn,
            &format!("SELECT {REPLY_COLUMNS}, received_at FROM replies WHERE author = ?1 ORDER BY received_at, id"),
            [actor],
            |r| {
                Ok(PersonReply {
                    reply: Reply::from_row(r)?,
                    received_at: r.get(14)?,
                })
            },
        )?,
        interactions: query_all(
            conn,
            "SELECT activity_id, kind, post_actor, post_slug, created_at FROM interactions
             WHERE actor = ?1 ORDER BY created_at, activity_id",
            [actor],
            |r| {
                Ok(PersonInteraction {
                    activity_id: r.get(0)?,
                    kind: if r.get::<_, String>(1)? == "like" {
                        InteractionKind::Like
                    } else {
                        InteractionKind::Announce
                    },
                    post: (r.get(2)?, r.get(3)?),
                    created_at: r.get(4)?,
                })
            },
        )?,
        reports_filed: query_all(
            conn,
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports WHERE reporter = ?1 ORDER BY received_at, id"
            ),
            [actor],
            Report::from_row,
        )?,
        reports_naming: query_all(
            conn,
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports
                 WHERE reporter <> ?1 AND json_valid(objects)
                   AND EXISTS (SELECT 1 FROM json_each(objects) WHERE value = ?1)
                 ORDER BY received_at, id"
            ),
            [actor],
            Report::from_row,
        )?,
        actor_document,
        refs: query_all(
            conn,
            &format!(
                "SELECT key, name, resolved_at FROM remote_refs WHERE {THEIR_REFS} ORDER BY key"
            ),
            (actor, &acct),
            |r| {
                Ok(PersonRef {
                    key: r.get(0)?,
                    name: r.get(1)?,
                    resolved_at: r.get(2)?,
                })
            },
        )?,
        inbox_activities: query_all(
            conn,
            &format!(
                "SELECT id, type, recipient, state, received_at, body FROM inbox_activities
                 WHERE {THEIR_ACTIVITIES} ORDER BY received_at, rowid"
            ),
            [actor],
            |r| {
                Ok(PersonActivity {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    recipient: r.get(2)?,
                    state: r.get(3)?,
                    received_at: r.get(4)?,
                    body: r.get(5)?,
                })
            },
        )?,
        deliveries: query_all(
            conn,
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_ROWS}
                 WHERE inbox IN ({PERSONAL_INBOXES}) ORDER BY id"
            ),
            [actor],
            Delivery::from_row,
        )?,
        auto_replies: query_all(
            conn,
            "SELECT id, actor, addressee, public, object, created_at FROM auto_replies
             WHERE addressee = ?1 ORDER BY created_at, id",
            [actor],
            |r| from_row!(r => AutoReply { id, actor, addressee, public, object, created_at }),
        )?,
        plugin_kv: query_all(
            conn,
            &format!(
                "SELECT plugin, key, value, expires_at FROM plugin_kv WHERE {THEIR_KV}
                 ORDER BY plugin, key"
            ),
            [actor],
            |r| from_row!(r => PluginKv { plugin, key, value, expires_at }),
        )?,
        plugin_marks: query_all(
            conn,
            &format!(
                "SELECT item, plugin, kind, text FROM plugin_marks WHERE item IN ({THEIR_ITEMS})
                 ORDER BY created_at, rowid"
            ),
            [actor],
            |r| {
                Ok(ItemMark {
                    item: r.get(0)?,
                    mark: PluginMark {
                        plugin: r.get(1)?,
                        kind: r.get(2)?,
                        text: r.get(3)?,
                    },
                })
            },
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FollowState, NewInboxActivity, ReplyStatus};

    const ANN: &str = "https://r.example/users/ann";
    const BOB: &str = "https://r.example/users/bob";
    /// r.example's shared inbox, which Ann and Bob both have.
    const SHARED: &str = "https://r.example/inbox";

    fn actor(id: &str) -> RemoteActor {
        RemoteActor {
            id: id.into(),
            inbox: format!("{id}/inbox"),
            shared_inbox: Some(SHARED.into()),
            key_id: Some(format!("{id}#main-key")),
            public_key_pem: Some("PEM".into()),
            handle: Some(format!("{}@r.example", &id[id.len() - 3..])),
            name: None,
            url: None,
            document: format!("{{\"id\":\"{id}\"}}"),
            fetched_at: 1_000,
        }
    }

    fn delivery(store: &Store, id: &str, inbox: &str) {
        let body = format!("{{\"id\":\"{id}\",\"type\":\"Create\"}}");
        let d = NewDelivery {
            activity_id: id,
            object_id: Some("https://s.example/users/news/posts/hello"),
            actor: "news",
            body: &body,
        };
        store.enqueue_delivery(&d, &[inbox.to_string()], 5).unwrap();
    }

    /// `who` follows news (accepted) and desk (pending), wrote a visible reply and a held
    /// mention, liked a post, filed a report, is cached, sent an activity, is owed a delivery at
    /// their own inbox and one at the shared inbox, was marked and keyed by a plugin.
    fn everything_about(store: &Store, who: &str, n: u32) {
        store.upsert_remote_actor(&actor(who)).unwrap();
        store
            .upsert_follower(&Follower {
                state: FollowState::Accepted,
                shared_inbox: Some(SHARED.into()),
                ..Follower::example("news", who)
            })
            .unwrap();
        store
            .upsert_follower(&Follower {
                shared_inbox: Some(SHARED.into()),
                ..Follower::example("desk", who)
            })
            .unwrap();
        store
            .upsert_reply(&Reply::example(&format!("{who}/notes/{n}"), who))
            .unwrap();
        store
            .upsert_reply(&Reply {
                post: None,
                mentions: vec!["desk".into()],
                status: ReplyStatus::Held,
                ..Reply::example(&format!("{who}/notes/{n}-held"), who)
            })
            .unwrap();
        store
            .add_interaction(
                &format!("{who}/likes/{n}"),
                InteractionKind::Like,
                who,
                "news",
                "hello",
            )
            .unwrap();
        store
            .add_report(&Report {
                id: format!("{who}/flags/{n}"),
                reporter: who.into(),
                objects: vec!["https://s.example/users/news".into()],
                content: Some("spam".into()),
                received_at: "2026-11-20T10:00:00+00:00".into(),
            })
            .unwrap();
        let body =
            format!("{{\"id\":\"{who}/activities/{n}\",\"type\":\"Like\",\"actor\":\"{who}\"}}");
        store
            .record_inbox_activity(
                &NewInboxActivity {
                    id: &format!("{who}/activities/{n}"),
                    signer: who,
                    recipient: None,
                    kind: "Like",
                    body: &body,
                    signature: "rfc9421",
                },
                2_000,
            )
            .unwrap();
        delivery(
            store,
            &format!("https://s.example/create/{n}"),
            &format!("{who}/inbox"),
        );
        store
            .kv_set("rate-limit", &format!("seen:{who}"), b"3", None, 1 << 20, 0)
            .unwrap()
            .unwrap();
        store
            .add_plugin_mark(&format!("{who}/notes/{n}"), "spam-words", "label", "ok", 0)
            .unwrap();
    }

    fn world() -> Store {
        let store = Store::open_in_memory().unwrap();
        everything_about(&store, ANN, 1);
        everything_about(&store, BOB, 2);
        delivery(&store, "https://s.example/create/shared", SHARED);
        store
    }

    #[test]
    fn can_list_everything_held_about_a_person() {
        let store = world();
        let ann = store.person(ANN).unwrap();
        assert_eq!(
            ann.follows
                .iter()
                .map(|f| (f.actor.as_str(), f.state))
                .collect::<Vec<_>>(),
            [
                ("news", FollowState::Accepted),
                ("desk", FollowState::Pending)
            ]
        );
        let replies: Vec<(&str, ReplyStatus)> = ann
            .replies
            .iter()
            .map(|r| (r.reply.id.as_str(), r.reply.status))
            .collect();
        assert_eq!(
            replies,
            [
                ("https://r.example/users/ann/notes/1", ReplyStatus::Visible),
                (
                    "https://r.example/users/ann/notes/1-held",
                    ReplyStatus::Held
                )
            ]
        );
        assert_eq!(ann.interactions.len(), 1);
        assert_eq!(ann.interactions[0].post, ("news".into(), "hello".into()));
        assert_eq!(ann.reports_filed[0].id, format!("{ANN}/flags/1"));
        assert_eq!(ann.actor_document.as_ref().unwrap().fetched_at, 1_000);
        assert_eq!(ann.inbox_activities.len(), 1);
        assert_eq!(ann.inbox_activities[0].kind, "Like");
        // Their own inbox only: the shared inbox is Bob's too.
        assert_eq!(
            ann.deliveries
                .iter()
                .map(|d| d.inbox.as_str())
                .collect::<Vec<_>>(),
            [format!("{ANN}/inbox").as_str()]
        );
        assert_eq!(ann.plugin_kv[0].key, format!("seen:{ANN}"));
        assert_eq!(ann.plugin_marks[0].item, format!("{ANN}/notes/1"));
        assert!(ann.reports_naming.is_empty() && ann.refs.is_empty());
        assert_eq!(store.actors_by_handle("@ann@R.example").unwrap(), [ANN]);
        assert!(store
            .actors_by_handle("carol@r.example")
            .unwrap()
            .is_empty());
    }

    /// Bob's rows, as `person` reads them.
    fn bobs(store: &Store) -> PersonData {
        store.person(BOB).unwrap()
    }

    #[test]
    fn can_forget_a_person_and_nothing_of_anyone_else() {
        let store = world();
        let bob_before = bobs(&store);
        let forgotten = store
            .forget_person(ANN, 9_000, |f| {
                Some(Parting {
                    activity_id: format!("https://s.example/users/{}#rejects/1", f.actor),
                    body: format!("{{\"type\":\"Reject\",\"to\":\"{}\"}}", f.follower),
                })
            })
            .unwrap();
        assert_eq!(forgotten.follows.len(), 2);
        assert!(forgotten.follows.iter().all(|(_, queued)| *queued));
        assert_eq!(forgotten.replies, 2);
        assert_eq!(forgotten.posts, [("news".to_string(), "hello".to_string())]);
        assert_eq!(
            (forgotten.interactions, forgotten.reports, forgotten.refs),
            (1, 1, 0)
        );
        assert!(forgotten.actor_document);
        assert_eq!(forgotten.inbox_activities, 1);
        assert_eq!(forgotten.deliveries, 1);
        assert_eq!((forgotten.plugin_kv, forgotten.plugin_marks), (1, 1));

        assert!(store.person(ANN).unwrap().is_empty());
        assert!(store.remote_actor(ANN).unwrap().is_none());
        assert_eq!(bobs(&store), bob_before, "Bob's rows are untouched");
        // The delivery to the shared inbox survives; the Rejects wait at Ann's inbox.
        let queued: Vec<(String, String)> = store
            .query_all(
                "SELECT kind, inbox FROM deliveries WHERE state = 'pending' ORDER BY id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let ann_inbox = format!("{ANN}/inbox");
        assert!(
            queued.contains(&("Create".into(), SHARED.into())),
            "{queued:?}"
        );
        assert_eq!(
            queued
                .iter()
                .filter(|(kind, inbox)| kind == "Reject" && *inbox == ann_inbox)
                .count(),
            2,
            "{queued:?}"
        );
        assert!(
            !queued.contains(&("Create".into(), ann_inbox)),
            "{queued:?}"
        );
        // No body is left that no row uses.
        let orphans: Option<i64> = store
            .query_opt(
                "SELECT COUNT(*) FROM delivery_bodies
                 WHERE body_id NOT IN (SELECT body_id FROM deliveries)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, Some(0));
    }

    #[test]
    fn can_empty_the_newest_inbox_row_instead_of_handing_its_number_out_again() {
        let store = world();
        // Ann's activity is the newest row.
        let body =
            format!("{{\"id\":\"{ANN}/activities/9\",\"type\":\"Like\",\"actor\":\"{ANN}\"}}");
        store
            .record_inbox_activity(
                &NewInboxActivity {
                    id: &format!("{ANN}/activities/9"),
                    signer: ANN,
                    recipient: None,
                    kind: "Like",
                    body: &body,
                    signature: "rfc9421",
                },
                3_000,
            )
            .unwrap();
        let newest = || -> Option<(i64, String, String)> {
            store
                .query_opt(
                    "SELECT rowid, id, body FROM inbox_activities ORDER BY rowid DESC",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap()
        };
        let (rowid, ..) = newest().unwrap();
        let forgotten = store.forget_person(ANN, 9_000, |_| None).unwrap();
        assert_eq!(forgotten.inbox_activities, 2);
        assert_eq!(
            newest(),
            Some((rowid, format!("erased:{rowid}"), "{}".into()))
        );
        assert!(store.person(ANN).unwrap().inbox_activities.is_empty());
        assert_eq!(bobs(&store).inbox_activities.len(), 1);
        assert!(forgotten.follows.iter().all(|(_, queued)| !queued));
    }

    #[test]
    fn can_find_a_person_in_someone_elses_report_and_keep_it() {
        let store = world();
        store
            .add_report(&Report {
                id: "https://o.example/flags/1".into(),
                reporter: "https://o.example/actor".into(),
                objects: vec![ANN.into(), format!("{ANN}/notes/1")],
                content: None,
                received_at: "2026-11-20T11:00:00+00:00".into(),
            })
            .unwrap();
        assert_eq!(store.person(ANN).unwrap().reports_naming.len(), 1);
        store.forget_person(ANN, 9_000, |_| None).unwrap();
        assert_eq!(store.reports().unwrap().len(), 2, "Bob's and o.example's");
    }
}

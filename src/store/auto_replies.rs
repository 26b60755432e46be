//! `auto_replies`: the answers plugins sent as our actors, kept so that the Note each delivered
//! Create carries can be fetched at its id (Mastodon fetches a reply's object to thread or
//! verify it) and so that a note redelivered is answered once.

use super::{execute, NewDelivery, Store, StoreError};

/// One answer sent as our actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoReply {
    /// The Note's id.
    pub id: String,
    /// Our handle.
    pub actor: String,
    /// The remote actor it answers.
    pub addressee: String,
    /// Whether anyone may read it (a public or unlisted answer); a direct one is shown to its
    /// addressee only.
    pub public: bool,
    /// The Note as delivered (JSON, without `@context`).
    pub object: String,
    /// When it was sent (unix ms).
    pub created_at: i64,
}

impl Store {
    /// Keeps `reply` and queues `delivery` of it to `inboxes`, in one transaction, unless an
    /// answer with its id is kept already (the same note answered by the same plugin, say a
    /// redelivered note): then nothing is queued. Returns whether it was queued.
    pub fn send_auto_reply(
        &self,
        reply: &AutoReply,
        delivery: &NewDelivery<'_>,
        inboxes: &[String],
    ) -> Result<bool, StoreError> {
        self.transaction(|tx| {
            let new = execute(
                tx,
                "INSERT INTO auto_replies (id, actor, addressee, public, object, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                (
                    &reply.id,
                    &reply.actor,
                    &reply.addressee,
                    reply.public,
                    &reply.object,
                    reply.created_at,
                ),
            )
            .map_err(self.err())?;
            if new == 0 {
                return Ok(false);
            }
            self.insert_deliveries(tx, delivery, inboxes, reply.created_at)?;
            Ok(true)
        })
    }

    /// The answer whose Note has `id`.
    pub fn auto_reply(&self, id: &str) -> Result<Option<AutoReply>, StoreError> {
        self.query_opt(
            "SELECT id, actor, addressee, public, object, created_at FROM auto_replies
             WHERE id = ?1",
            [id],
            |r| from_row!(r => AutoReply { id, actor, addressee, public, object, created_at }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(body: &str) -> NewDelivery<'_> {
        NewDelivery {
            activity_id: "https://x.example/users/news/auto-replies/ab/activity",
            object_id: None,
            actor: "news",
            body,
        }
    }

    #[test]
    fn can_send_an_answer_once_and_read_it_back() {
        let store = Store::open_in_memory().unwrap();
        let reply = AutoReply {
            id: "https://x.example/users/news/auto-replies/ab".into(),
            actor: "news".into(),
            addressee: "https://r.example/users/ann".into(),
            public: false,
            object: "{\"type\":\"Note\"}".into(),
            created_at: 5,
        };
        let inboxes = ["https://r.example/users/ann/inbox".to_string()];
        assert!(store
            .send_auto_reply(&reply, &delivery("{}"), &inboxes)
            .unwrap());
        let again = AutoReply {
            object: "{\"type\":\"Note\",\"content\":\"later\"}".into(),
            ..reply.clone()
        };
        assert!(
            !store
                .send_auto_reply(&again, &delivery("{\"later\":1}"), &inboxes)
                .unwrap(),
            "answered once"
        );
        let queued: i64 = store
            .query_opt("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
            .unwrap()
            .unwrap();
        assert_eq!(queued, 1);
        assert_eq!(store.auto_reply(&reply.id).unwrap(), Some(reply));
        assert_eq!(store.auto_reply("https://x.example/other").unwrap(), None);
    }
}

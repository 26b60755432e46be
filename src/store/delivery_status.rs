//! The outgoing queue as the operator sees it: per host (`masthead deliveries`), per actor with
//! its last publication's progress, and the publications held back (`masthead status` and
//! `/metrics`). Read-only summaries over `deliveries`, `hosts`, `followers`,
//! `pending_publications` and `held_posts`; the queue itself is `store::deliveries`.

use super::{FollowState, NextReview, PendingChange, Store, StoreError};

/// The queue as the operator sees it, per host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostQueue {
    /// `host[:port]`.
    pub host: String,
    /// Rows waiting.
    pub pending: usize,
    /// Rows given up.
    pub failed: usize,
    /// Rows delivered (until pruned).
    pub done: usize,
    /// Earliest `next_attempt_at` of a pending row (unix ms).
    pub next_attempt_at: Option<i64>,
    /// The error of the most recently tried row that has one.
    pub last_error: Option<String>,
    /// Unix ms since when the host is skipped, if it is.
    pub unavailable_since: Option<i64>,
}

/// One actor's share of the queue, as `masthead status` and `/metrics` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActorQueue {
    /// Our handle.
    pub actor: String,
    /// Accepted followers.
    pub followers: usize,
    /// Follows waiting for approval.
    pub follow_requests: usize,
    /// Rows waiting to be sent (for their turn, their time or a worker).
    pub queued: usize,
    /// Rows being sent now (leased, the lease not over).
    pub in_flight: usize,
    /// Rows given up (kept 30 days).
    pub failed: usize,
    /// Rows delivered (kept 7 days).
    pub delivered: usize,
    /// The earliest retry of a row that failed for now (unix ms).
    pub next_retry_at: Option<i64>,
    /// Hosts this actor delivers to that are skipped as unavailable, by name.
    pub unavailable_hosts: Vec<String>,
    /// The newest Create, Update or Delete this actor queued.
    pub last_publish: Option<Publish>,
}

/// One publication's fan-out: a Create, Update or Delete and its rows, one per inbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Publish {
    pub activity_id: String,
    /// Create, Update or Delete.
    pub kind: String,
    /// What it is about (the post's id).
    pub object_id: String,
    /// When it was queued (unix ms).
    pub queued_at: i64,
    /// Inboxes it goes to (rows not cancelled).
    pub inboxes: usize,
    /// Inboxes that answered 2xx.
    pub done: usize,
    /// Inboxes given up.
    pub failed: usize,
}

impl Publish {
    /// Whether every inbox has an outcome.
    pub fn finished(&self) -> bool {
        self.done + self.failed >= self.inboxes
    }
}

/// A publication held back from followers, for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnHold {
    /// Our handle.
    pub actor: String,
    /// The post's slug (or what else is held).
    pub what: String,
    /// `create`, `update` or `delete`.
    pub change: String,
    /// Since when (unix ms).
    pub since: i64,
    /// Why, and what ends it.
    pub reason: String,
    /// For a post held by a plugin's failure, when masthead reviews it next (as the server
    /// last recorded it).
    pub next_review: Option<NextReview>,
}

impl Store {
    /// The queue per host, hosts with pending rows first, then by host.
    pub fn delivery_queue(&self) -> Result<Vec<HostQueue>, StoreError> {
        self.query_all(
            "SELECT d.host,
               SUM(d.state = 'pending'), SUM(d.state = 'failed'), SUM(d.state = 'done'),
               MIN(CASE WHEN d.state = 'pending' THEN d.next_attempt_at END),
               (SELECT last_error FROM deliveries e WHERE e.host = d.host
                  AND e.last_error IS NOT NULL ORDER BY e.attempts > 0 DESC, e.id DESC LIMIT 1),
               h.unavailable_since
             FROM deliveries d LEFT JOIN hosts h ON h.host = d.host
             GROUP BY d.host
             ORDER BY SUM(d.state = 'pending') = 0, d.host",
            [],
            |r| {
                from_row!(r => HostQueue {
                    host, pending, failed, done, next_attempt_at, last_error, unavailable_since
                })
            },
        )
    }

    /// The queue of each of `actors` at `now_ms`, in that order (see [`ActorQueue`]).
    pub fn actor_queues(
        &self,
        actors: &[&str],
        now_ms: i64,
    ) -> Result<Vec<ActorQueue>, StoreError> {
        let mut out = Vec::with_capacity(actors.len());
        for actor in actors {
            let mut q = self
                .query_opt(
                    "SELECT
                       IFNULL(SUM(state = 'pending' AND NOT (leased = 1 AND next_attempt_at > ?2)), 0),
                       IFNULL(SUM(state = 'pending' AND leased = 1 AND next_attempt_at > ?2), 0),
                       IFNULL(SUM(state = 'failed'), 0),
                       IFNULL(SUM(state = 'done'), 0),
                       MIN(CASE WHEN state = 'pending' AND leased = 0 AND attempts > 0
                                THEN next_attempt_at END)
                     FROM deliveries WHERE actor = ?1",
                    (actor, now_ms),
                    |r| {
                        from_row!(r => ActorQueue { queued, in_flight, failed, delivered, next_retry_at;
                            actor: actor.to_string(), ..ActorQueue::default() })
                    },
                )?
                .unwrap_or_default();
            q.followers = self.followers(actor, FollowState::Accepted)?.len();
            q.follow_requests = self.followers(actor, FollowState::Pending)?.len();
            q.unavailable_hosts = self.query_all(
                "SELECT DISTINCT d.host FROM deliveries d JOIN hosts h ON h.host = d.host
                 WHERE d.actor = ?1 AND h.unavailable_since IS NOT NULL ORDER BY d.host",
                [actor],
                |r| r.get(0),
            )?;
            q.last_publish = self.last_publish(actor)?;
            out.push(q);
        }
        Ok(out)
    }

    /// The newest Create, Update or Delete `actor` queued, with how far its fan-out got.
    fn last_publish(&self, actor: &str) -> Result<Option<Publish>, StoreError> {
        let newest: Option<String> = self.query_opt(
            "SELECT activity_id FROM deliveries
             WHERE actor = ?1 AND object_id IS NOT NULL AND state <> 'cancelled'
               AND kind IN ('Create', 'Update', 'Delete')
             ORDER BY id DESC LIMIT 1",
            [actor],
            |r| r.get(0),
        )?;
        let Some(activity_id) = newest else {
            return Ok(None);
        };
        self.query_opt(
            "SELECT kind, object_id, MIN(created_at), COUNT(*), SUM(state = 'done'),
                    SUM(state = 'failed')
             FROM deliveries WHERE activity_id = ?1 AND state <> 'cancelled'",
            [&activity_id],
            |r| {
                from_row!(r => Publish { kind, object_id, queued_at, inboxes, done, failed;
                    activity_id: activity_id.clone() })
            },
        )
    }

    /// Publications held back from followers, oldest first: the Creates and Updates waiting for
    /// their mentions and reply to be resolved (`pending_publications`), then the posts a plugin
    /// vetoed (`held_posts`). Every kind of hold `masthead status` and `/metrics` show goes
    /// through here.
    pub fn publications_on_hold(&self) -> Result<Vec<OnHold>, StoreError> {
        let vetoed = self.held_posts()?.into_iter().map(|h| OnHold {
            actor: h.actor,
            what: h.slug,
            change: match h.change {
                PendingChange::Update => "update",
                _ => "create",
            }
            .to_string(),
            since: h.since,
            next_review: h.next_review,
            reason: match h.change {
                // The reason says which plugin failed and how.
                _ if h.failed => format!(
                    "held back: {} (its on_error holds the post; masthead reviews it again by itself, at growing intervals up to every 10 minutes, and publishes it once the plugin answers)",
                    h.reason
                ),
                PendingChange::Update => format!(
                    "held back by plugin {}: {} (followers keep the version they have; published when the plugin no longer vetoes it)",
                    h.plugin, h.reason
                ),
                _ => format!(
                    "held back by plugin {}: {} (not served or sent until the plugin no longer vetoes it)",
                    h.plugin, h.reason
                ),
            },
        });
        Ok(self
            .pending_publications()?
            .into_iter()
            .map(|p| OnHold {
                actor: p.actor,
                what: p.slug,
                change: match p.change {
                    PendingChange::Create => "create",
                    PendingChange::Update => "update",
                    PendingChange::Delete => "delete",
                }
                .to_string(),
                since: p.created_at,
                reason: "waiting for its mentions and reply to be resolved".to_string(),
                next_review: None,
            })
            .chain(vetoed)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::deliveries::tests::{enqueue, row, A, B, C};
    use super::*;

    #[test]
    fn can_list_publications_held_back_for_the_operator() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.publications_on_hold().unwrap().is_empty());
        s.execute(
            "INSERT INTO pending_publications (actor, slug, change, created_at)
             VALUES ('news', 'budget', 'update', 7000)",
            [],
        )
        .unwrap();
        assert_eq!(
            s.publications_on_hold().unwrap(),
            [OnHold {
                actor: "news".into(),
                what: "budget".into(),
                change: "update".into(),
                since: 7000,
                reason: "waiting for its mentions and reply to be resolved".into(),
                next_review: None,
            }]
        );
    }

    #[test]
    fn can_count_an_actors_queue_and_its_last_publish() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &[A, B, C], 1000);
        s.complete_delivery(row(&s, "c", A).id, 202, 1100).unwrap();
        s.fail_delivery(row(&s, "c", B).id, Some(403), "403")
            .unwrap();
        assert!(s.lease_delivery(row(&s, "c", C).id, 1000, 301_000).unwrap());
        enqueue(&s, "u", "Update", &[A], 2000);
        enqueue(&s, "u2", "Update", &[A], 3000);
        let q = s.actor_queues(&["news", "desk"], 5000).unwrap();
        assert_eq!(
            (q[0].queued, q[0].in_flight, q[0].failed, q[0].delivered),
            (1, 1, 1, 1),
            "the cancelled Update counts nowhere"
        );
        let last = q[0].last_publish.as_ref().unwrap();
        assert_eq!(
            (
                last.activity_id.as_str(),
                last.inboxes,
                last.done,
                last.finished()
            ),
            ("u2", 1, 0, false)
        );
        // A lease that ran out is no longer in flight: the row is waiting again.
        let later = s.actor_queues(&["news"], 301_000).unwrap();
        assert_eq!((later[0].queued, later[0].in_flight), (2, 0));
        assert_eq!(
            q[1],
            ActorQueue {
                actor: "desk".into(),
                ..ActorQueue::default()
            }
        );
    }

    #[test]
    fn can_summarize_the_queue_per_host() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "a1", "Create", &["https://a.example/inbox"], 5000);
        enqueue(&s, "a2", "Create", &["https://a.example/inbox"], 7000);
        enqueue(&s, "a1", "Create", &["https://b.example/inbox"], 5000);
        let b = s.deliveries_of_activity("a1").unwrap()[1].id;
        s.fail_delivery(b, Some(403), "403 Forbidden").unwrap();
        let a = s.deliveries_of_activity("a2").unwrap()[0].id;
        s.reschedule_delivery(a, 9000, Some(503), "503 Service Unavailable")
            .unwrap();
        let q = s.delivery_queue().unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            (
                q[0].host.as_str(),
                q[0].pending,
                q[0].failed,
                q[0].next_attempt_at
            ),
            ("a.example", 2, 0, Some(5000))
        );
        assert_eq!(q[0].last_error.as_deref(), Some("503 Service Unavailable"));
        assert_eq!(
            (q[1].host.as_str(), q[1].pending, q[1].failed),
            ("b.example", 0, 1)
        );
    }
}

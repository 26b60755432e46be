//! `GET /metrics`: what `masthead status` shows, in the Prometheus text exposition format
//! (version 0.0.4), on a listener of its own (`[site] metrics_listen`, off by default) so it is
//! never reachable on the public address by accident.
//!
//! This module owns that listener and the wording of each metric family; the numbers are
//! `Store::actor_queues` and `Store::publications_on_hold`, read at each scrape. Every family is
//! a gauge labelled by `actor`. It has no authentication: bind it to loopback or a private
//! interface.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// The content type of the text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape reads: the store, the actors configured (in config order) and the clock.
pub struct Metrics {
    pub store: Arc<Store>,
    pub actors: Vec<String>,
    pub clock: Clock,
}

/// One metric family: its name, help text, and the value of each actor (none: not written).
struct Family {
    name: &'static str,
    help: &'static str,
    values: Vec<(String, Option<f64>)>,
}

impl Metrics {
    /// The whole exposition at this moment.
    pub fn render(&self) -> Result<String, StoreError> {
        let now_ms = self.clock.now_ms();
        let handles: Vec<&str> = self.actors.iter().map(String::as_str).collect();
        let queues = self.store.actor_queues(&handles, now_ms)?;
        let held = self.store.publications_on_hold()?;
        let family =
            |name, help, value: &dyn Fn(&crate::store::ActorQueue) -> Option<f64>| Family {
                name,
                help,
                values: queues.iter().map(|q| (q.actor.clone(), value(q))).collect(),
            };
        let count = |n: usize| Some(n as f64);
        let seconds = |ms: i64| ms as f64 / 1000.0;
        let families = [
            family(
                "masthead_followers",
                "Accepted followers of the actor.",
                &|q| count(q.followers),
            ),
            family(
                "masthead_follow_requests",
                "Follows of the actor waiting for approval.",
                &|q| count(q.follow_requests),
            ),
            family(
                "masthead_deliveries_queued",
                "Deliveries waiting to be sent (for their turn, their time or a worker).",
                &|q| count(q.queued),
            ),
            family(
                "masthead_deliveries_in_flight",
                "Deliveries being sent now.",
                &|q| count(q.in_flight),
            ),
            family(
                "masthead_deliveries_failed",
                "Deliveries given up (kept 30 days).",
                &|q| count(q.failed),
            ),
            family(
                "masthead_deliveries_delivered",
                "Deliveries an inbox accepted (kept 7 days).",
                &|q| count(q.delivered),
            ),
            family(
                "masthead_delivery_next_retry_timestamp_seconds",
                "When the earliest retry of a delivery that failed for now is due (unix time).",
                &|q| q.next_retry_at.map(seconds),
            ),
            family(
                "masthead_unavailable_hosts",
                "Hosts the actor delivers to that are skipped as unavailable.",
                &|q| count(q.unavailable_hosts.len()),
            ),
            family(
                "masthead_last_publish_timestamp_seconds",
                "When the actor's last Create, Update or Delete was queued (unix time).",
                &|q| q.last_publish.as_ref().map(|p| seconds(p.queued_at)),
            ),
            family(
                "masthead_last_publish_inboxes",
                "Inboxes the actor's last Create, Update or Delete goes to.",
                &|q| q.last_publish.as_ref().map(|p| p.inboxes as f64),
            ),
            family(
                "masthead_last_publish_inboxes_done",
                "Inboxes that accepted the actor's last Create, Update or Delete.",
                &|q| q.last_publish.as_ref().map(|p| p.done as f64),
            ),
            family(
                "masthead_last_publish_inboxes_failed",
                "Inboxes that were given up for the actor's last Create, Update or Delete.",
                &|q| q.last_publish.as_ref().map(|p| p.failed as f64),
            ),
            family(
                "masthead_publications_held",
                "Publications of the actor held back from its followers.",
                &|q| count(held.iter().filter(|h| h.actor == q.actor).count()),
            ),
            family(
                "masthead_held_review_next_timestamp_seconds",
                "When masthead next reviews the actor's posts that a failing plugin held back \
                 (absent while none is).",
                &|q| {
                    let reviews = held.iter().filter(|h| h.actor == q.actor);
                    let next = reviews.filter_map(|h| h.next_review).map(|n| n.at).min();
                    next.map(seconds)
                },
            ),
        ];
        let mut out = String::new();
        for f in &families {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
            let _ = writeln!(out, "# TYPE {} gauge", f.name);
            for (actor, value) in &f.values {
                if let Some(v) = value {
                    let _ = writeln!(out, "{}{{actor=\"{}\"}} {v}", f.name, label(actor));
                }
            }
        }
        Ok(out)
    }

    fn answer(&self, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let plain = |status: StatusCode, text: &str| {
            let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
            *r.status_mut() = status;
            r.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        };
        if req.uri().path() != "/metrics" {
            return plain(
                StatusCode::NOT_FOUND,
                "not found: metrics are at /metrics\n",
            );
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            r.headers_mut()
                .insert(ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match self.render() {
            Ok(text) => {
                let mut r = Response::new(Full::new(Bytes::from(text)));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    http::HeaderValue::from_static(CONTENT_TYPE_TEXT),
                );
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read the metrics");
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the store could not be read; see the server log\n",
                )
            }
        }
    }
}

/// A label value with `\`, `"` and newlines escaped as the text format asks.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Answers scrapes on `listener` until `shutdown` turns true.
pub async fn serve(
    metrics: Arc<Metrics>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(addr = %addr, "serving /metrics");
    }
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let metrics = metrics.clone();
                async move {
                    // A scrape is a reading of now: no cache may keep it.
                    let mut resp = metrics.answer(&req);
                    super::cache::no_store_unless_set(&mut resp);
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{HeldPost, NextReview, PendingChange, Scope};

    #[test]
    fn can_escape_label_values() {
        assert_eq!(label("news"), "news");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn can_write_every_family_with_help_and_type() {
        let metrics = Metrics {
            store: Arc::new(Store::open_in_memory().unwrap()),
            actors: vec!["news".into()],
            clock: Clock::manual(1_000),
        };
        let text = metrics.render().unwrap();
        assert!(text.contains(
            "# HELP masthead_followers Accepted followers of the actor.\n\
             # TYPE masthead_followers gauge\n\
             masthead_followers{actor=\"news\"} 0\n"
        ));
        // Nothing published, nothing to retry: those families have no sample.
        assert!(text.contains("# TYPE masthead_last_publish_inboxes gauge\n# HELP"));
        assert!(!text.contains("masthead_delivery_next_retry_timestamp_seconds{"));
        assert!(!text.contains("masthead_held_review_next_timestamp_seconds{"));
        assert_eq!(text.matches("# TYPE ").count(), 14);
    }

    #[test]
    fn can_say_when_posts_a_failing_plugin_held_back_are_reviewed_next() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let held = |slug: &str, failed| HeldPost {
            actor: "news".into(),
            slug: slug.into(),
            source: format!("content/news/{slug}.md").into(),
            change: PendingChange::Create,
            plugin: "editor".into(),
            reason: "no".into(),
            failed,
            since: 0,
            next_review: None,
        };
        let holds = [held("vetoed", false), held("flaky", true)];
        store.sync_held_posts(Scope::All, &holds, 1_000).unwrap();
        let metrics = Metrics {
            store: store.clone(),
            actors: vec!["news".into(), "desk".into()],
            clock: Clock::manual(1_000),
        };
        let family = "masthead_held_review_next_timestamp_seconds";
        // Held, but the server has not scheduled a review yet: no sample.
        assert!(!metrics.render().unwrap().contains(&format!("{family}{{")));
        let next = NextReview {
            at: 31_000,
            reviews: 0,
        };
        store.schedule_held_reviews(Some(next)).unwrap();
        let text = metrics.render().unwrap();
        assert!(
            text.contains(&format!("{family}{{actor=\"news\"}} 31\n")),
            "{text}"
        );
        assert!(
            !text.contains(&format!("{family}{{actor=\"desk\"}}")),
            "{text}"
        );
        assert!(text.contains("masthead_publications_held{actor=\"news\"} 2\n"));
    }
}

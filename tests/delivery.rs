//! Delivery end to end: posts added, edited and removed become Create, Update and Delete rows for
//! the followers' inboxes; the workers send them, signed, to recording inboxes on 127.0.0.1,
//! retry on failure, forget followers whose inbox is gone, keep a slow inbox from holding up the
//! others, and lose nothing when the process dies. Time moves by a manual clock, never by sleeping.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::inbox::{FakeInbox, Recorded};
use hyper::Method;
use masthead::app::{self, App, Running};
use masthead::clock::{now_ms, Clock};
use masthead::commands::deliveries;
use masthead::config::Site;
use masthead::federation::delivery::{self, DeliveryConfig, Workers};
use masthead::federation::signatures::{self, PublicKey};
use masthead::store::{
    DeliveryState, FollowState, Follower, NewPost, NextReview, Scope, Store, SyncPolicy,
};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;

/// The `federated` fixture (outgoing requests to loopback allowed), opened with a manual clock.
struct Fed {
    dir: TempDir,
    base: String,
    app: Arc<App>,
    clock: Clock,
    listener: Option<TcpListener>,
}

impl Fed {
    /// Moves the queue's clock on by `step` and wakes the workers until `inbox` has received
    /// `n` requests (a retry comes due only when the clock says so).
    async fn advance_until_received(
        &self,
        inbox: &FakeInbox,
        n: usize,
        step: Duration,
        what: &str,
    ) {
        let arrived = || async {
            if inbox.received_within(n, Duration::from_millis(200)).await {
                return Some(());
            }
            self.clock.advance(step);
            self.app.delivery_wake.notify_one();
            None
        };
        common::poll_until(what, Duration::from_secs(10), Duration::ZERO, arrived).await;
    }

    /// Opens the site; `followers` are in the store before the first scan.
    async fn open(followers: &[&FakeInbox]) -> Fed {
        let inboxes: Vec<&str> = followers.iter().map(|f| f.url.as_str()).collect();
        Fed::open_with(&inboxes, Clock::manual(now_ms())).await
    }

    /// Opens the site with followers at `inboxes` and the queue on `clock`.
    async fn open_with(inboxes: &[&str], clock: Clock) -> Fed {
        Fed::open_configured(inboxes, clock, |toml| toml).await
    }

    /// Like [`Fed::open_with`], with `keys` (lines ending in `\n`) added under `[site]`.
    async fn open_with_keys(inboxes: &[&str], clock: Clock, keys: &str) -> Fed {
        let keys = keys.to_string();
        Fed::open_configured(inboxes, clock, move |toml| {
            toml.replace("[site]\n", &format!("[site]\n{keys}"))
        })
        .await
    }

    /// [`Fed::open_with`], site.toml rewritten by `edit` first.
    async fn open_configured(
        inboxes: &[&str],
        clock: Clock,
        edit: impl FnOnce(String) -> String,
    ) -> Fed {
        let (dir, listener, base) = common::prepare("federated").await;
        let config = dir.path().join("site.toml");
        let toml = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, edit(toml)).unwrap();
        let store = Store::open(&data_dir(dir.path())).unwrap();
        for (i, inbox) in inboxes.iter().enumerate() {
            store.upsert_follower(&follower(inbox, i)).unwrap();
        }
        let app = open_app(dir.path(), store, &clock);
        Fed {
            dir,
            base,
            app,
            clock,
            listener: Some(listener),
        }
    }

    /// Serves it with the delivery workers running.
    fn start(&mut self) -> Running {
        app::start_with(
            self.app.clone(),
            self.listener.take().unwrap(),
            None,
            DeliveryConfig::default(),
        )
        .unwrap()
    }

    fn follow(&self, inbox: &FakeInbox, n: usize) {
        self.app
            .store
            .upsert_follower(&follower(&inbox.url, n))
            .unwrap();
    }

    /// Writes `content/news/<name>`.
    fn write_post(&self, name: &str, text: &str) {
        common::write_post(self.dir.path(), &format!("news/{name}"), text);
    }

    /// Writes `content/news/<name>` and rebuilds, which queues what followers are owed.
    async fn publish(&self, name: &str, text: &str) {
        self.write_post(name, text);
        self.app.rebuild().await.unwrap();
    }

    /// Drops the app as a crash would and opens the same site and store again, on the same clock.
    fn crash_and_reopen(self) -> (TempDir, Arc<App>, Clock) {
        let Fed {
            dir, app, clock, ..
        } = self;
        drop(app);
        let store = Store::open(&data_dir(dir.path())).unwrap();
        let app = open_app(dir.path(), store, &clock);
        (dir, app, clock)
    }

    fn post_id(&self, slug: &str) -> String {
        format!("{}/users/news/posts/{slug}", self.base)
    }

    /// Every queued row about a post of `news`.
    fn rows(&self, slug: &str) -> Vec<masthead::store::Delivery> {
        self.app
            .store
            .deliveries_of_object(&self.post_id(slug))
            .unwrap()
    }

    /// The activity types of `slug`'s rows in `state`, oldest first.
    fn kinds(&self, slug: &str, state: DeliveryState) -> Vec<String> {
        self.rows(slug)
            .into_iter()
            .filter(|r| r.state == state)
            .map(|r| r.kind)
            .collect()
    }

    /// The bodies of `slug`'s Updates waiting to be sent.
    fn pending_updates(&self, slug: &str) -> Vec<Value> {
        self.rows(slug)
            .iter()
            .filter(|r| r.kind == "Update" && r.state == DeliveryState::Pending)
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }

    /// Checks the draft-cavage signature of `req` against the public key of `news`.
    fn assert_signed_by_news(&self, req: &Recorded) {
        let signed = signatures::parse(&Method::POST, &req.target, &req.headers)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            signed.key_id(),
            format!("{}/users/news#main-key", self.base)
        );
        let key = PublicKey::from_pem(&self.app.key("news").unwrap().public_pem).unwrap();
        signatures::verify(&signed, &key, &req.body, SystemTime::now())
            .unwrap_or_else(|e| panic!("{e}"));
        let sig = req.header("signature");
        assert!(
            sig.contains("headers=\"(request-target) host date digest\""),
            "{sig}"
        );
        assert_eq!(req.header("content-type"), "application/activity+json");
    }
}

fn data_dir(site_dir: &Path) -> std::path::PathBuf {
    Site::load(&site_dir.join("site.toml"))
        .unwrap()
        .site
        .data_dir
}

fn open_app(site_dir: &Path, store: Store, clock: &Clock) -> Arc<App> {
    let site = Site::load(&site_dir.join("site.toml")).unwrap().site;
    let (app, _) = App::with_clock(site, store, clock.clone()).unwrap();
    Arc::new(app)
}

fn follower(inbox: &str, n: usize) -> Follower {
    let actor = format!("http://remote{n}.example/users/reader");
    Follower {
        actor: "news".into(),
        follower: actor.clone(),
        follow_id: format!("{actor}#follow"),
        inbox: inbox.to_string(),
        shared_inbox: None,
        state: FollowState::Accepted,
        created_at: String::new(),
        hold: None,
    }
}

/// A new post, dated a minute before the tests started: inside the push window, so followers
/// get it, and not in the future of a clock started before it was first used.
static SECOND: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| common::post_dated_now("title = \"Second\"\n", "The second post."));

/// Sends what is due now, as the workers would, and waits for every answer.
async fn deliver_due(app: &Arc<App>) -> usize {
    app.deliverer(DeliveryConfig::default())
        .deliver_due()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_deliver_a_create_once_the_inbox_recovers() {
    let inbox = FakeInbox::start(&[503, 202]).await;
    let mut fed = Fed::open(&[]).await;
    let running = fed.start();
    fed.follow(&inbox, 0);
    fed.publish("second.md", &SECOND).await;

    let first = inbox.wait_for(1).await;
    // The retry is due 15-24 s later by the queue's clock: move it on a minute at a time until
    // the retry arrives.
    fed.advance_until_received(
        &inbox,
        2,
        Duration::from_secs(60),
        "the retry, the clock a minute on each time",
    )
    .await;
    let served = common::fetch(
        &format!("{}/activity", fed.post_id("second")),
        Method::GET,
        common::AP,
        &[],
    )
    .await
    .json();
    running.stop().await;

    let requests = inbox.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        first[0].body, requests[1].body,
        "the same activity, as stored"
    );
    for req in &requests {
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.target, "/inbox");
        fed.assert_signed_by_news(req);
    }
    let create = requests[1].json();
    assert_eq!(create, served, "what GET /activity serves");
    assert_eq!(create["type"], "Create");
    assert_eq!(create["id"], format!("{}/activity", fed.post_id("second")));
    assert_eq!(create["to"], create["object"]["to"]);
    assert_eq!(create["cc"], create["object"]["cc"]);

    let rows = fed.rows("second");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].state, rows[0].attempts, rows[0].last_status),
        (DeliveryState::Done, 2, Some(202))
    );
    // The host answered in the end: no failure days left against it.
    let health = fed.app.store.host_health(&rows[0].host).unwrap();
    assert!(health.failure_days.is_empty(), "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_remove_followers_whose_inbox_is_gone() {
    let gone = FakeInbox::start(&[410]).await;
    let fine = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[]).await;
    fed.follow(&gone, 0);
    fed.follow(&fine, 1);
    fed.publish("second.md", &SECOND).await;
    assert_eq!(deliver_due(&fed.app).await, 2);

    assert_eq!(gone.requests().len(), 1);
    assert_eq!(fine.requests().len(), 1);
    let followers = fed
        .app
        .store
        .followers("news", FollowState::Accepted)
        .unwrap();
    let inboxes: Vec<&str> = followers.iter().map(|f| f.inbox.as_str()).collect();
    assert_eq!(inboxes, [fine.url.as_str()]);
    let rows = fed.rows("second");
    let gone_row = rows.iter().find(|r| r.inbox == gone.url).unwrap();
    assert_eq!(
        (gone_row.state, gone_row.last_status),
        (DeliveryState::Failed, Some(410))
    );
    // Nothing more is due, and the next post goes only to the follower left.
    fed.clock.advance(Duration::from_secs(3600));
    assert_eq!(deliver_due(&fed.app).await, 0);
    fed.publish("third.md", &SECOND.replace("Second", "Third"))
        .await;
    assert_eq!(fed.rows("third").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_fail_a_refused_delivery_at_once_and_retry_a_rate_limited_one_later() {
    let refusing = FakeInbox::start(&[403]).await;
    let limited = FakeInbox::start(&[429]).await;
    let fed = Fed::open(&[&refusing, &limited]).await;
    fed.publish("second.md", &SECOND).await;
    deliver_due(&fed.app).await;

    let rows = fed.rows("second");
    let refused = rows.iter().find(|r| r.inbox == refusing.url).unwrap();
    assert_eq!(
        (refused.state, refused.attempts),
        (DeliveryState::Failed, 1)
    );
    let retried = rows.iter().find(|r| r.inbox == limited.url).unwrap();
    assert_eq!(retried.state, DeliveryState::Pending);
    let wait = retried.next_attempt_at - fed.clock.now_ms();
    assert!((15_000..=24_000).contains(&wait), "{wait} ms");
    // A permanent refusal is not held against the host; a 429 is.
    assert!(fed
        .app
        .store
        .host_health(&refused.host)
        .unwrap()
        .failure_days
        .is_empty());
    assert_eq!(
        fed.app
            .store
            .host_health(&retried.host)
            .unwrap()
            .failure_days
            .len(),
        1
    );
    assert_eq!(deliver_due(&fed.app).await, 0, "not due yet");
    fed.clock.advance(Duration::from_secs(25));
    assert_eq!(deliver_due(&fed.app).await, 1);
    assert_eq!(limited.requests().len(), 2);
    assert_eq!(refusing.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_deliver_to_a_fast_inbox_while_a_slow_one_holds_its_request() {
    let slow = FakeInbox::held(&[202]).await;
    let fast = FakeInbox::start(&[202]).await;
    let mut fed = Fed::open(&[&slow]).await;
    let running = fed.start();
    fed.publish("second.md", &SECOND).await;
    // The slow inbox has a request and sits on it.
    slow.wait_for(1).await;

    // The next post goes to both: the fast inbox is served while the slow one still holds
    // everything it got.
    fed.follow(&fast, 1);
    fed.publish("third.md", &SECOND.replace("Second", "Third"))
        .await;
    fast.wait_for(1).await;
    slow.wait_for(2).await;
    assert_eq!(slow.answered(), 0);
    slow.release();
    slow.release();
    running.stop().await;

    assert_eq!(slow.answered(), 2);
    let rows = [fed.rows("second"), fed.rows("third")].concat();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r.state == DeliveryState::Done),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_create_update_and_delete_on_rebuild_but_nothing_on_the_first_scan() {
    let inbox = FakeInbox::start(&[202]).await;
    // The follower is there before the first scan: the back catalogue is still not sent.
    let fed = Fed::open(&[&inbox]).await;
    assert!(fed.rows("hello").is_empty());
    assert_eq!(fed.app.rebuild().await.unwrap().changes.len(), 0);

    fed.publish("second.md", &SECOND).await;
    let rows = fed.rows("second");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].kind.as_str(), rows[0].inbox.as_str()),
        ("Create", inbox.url.as_str())
    );

    // Edited: an Update with the whole object and an `updated` later than `published`.
    fed.clock.advance(Duration::from_secs(60));
    fed.publish(
        "second.md",
        &SECOND.replace("second post", "second post, edited"),
    )
    .await;
    fed.clock.advance(Duration::from_secs(60));
    fed.publish(
        "second.md",
        &SECOND.replace("second post", "second post, edited twice"),
    )
    .await;
    let rows = fed.rows("second");
    let updates = fed.pending_updates("second");
    // The second edit superseded the first, still waiting.
    assert_eq!(updates.len(), 1, "{rows:?}");
    let cancelled = rows
        .iter()
        .filter(|r| r.state == DeliveryState::Cancelled)
        .count();
    assert_eq!(cancelled, 1, "{rows:?}");
    let update = &updates[0];
    let id = update["id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("{}#updates/", fed.post_id("second"))),
        "{id}"
    );
    assert_eq!(update["object"]["id"], fed.post_id("second"));
    assert!(update["object"]["content"]
        .as_str()
        .unwrap()
        .contains("edited twice"));
    let published = update["object"]["published"].as_str().unwrap();
    let updated = update["object"]["updated"].as_str().unwrap();
    assert!(updated > published, "{updated} <= {published}");
    assert_eq!(update["to"], update["object"]["to"]);
    assert_eq!(update["cc"], update["object"]["cc"]);

    // Delivered, edited again: another Update with a new id and a later `updated`.
    deliver_due(&fed.app).await;
    fed.clock.advance(Duration::from_secs(60));
    fed.publish("second.md", &SECOND.replace("second post", "third version"))
        .await;
    let later = fed.pending_updates("second");
    assert_eq!(later.len(), 1);
    assert_ne!(later[0]["id"], update["id"]);
    assert!(later[0]["object"]["updated"].as_str().unwrap() > updated);

    // Removed: served through the grace period, the Update still waiting...
    std::fs::remove_file(fed.dir.path().join("content/news/second.md")).unwrap();
    fed.app.rebuild().await.unwrap();
    assert_eq!(fed.kinds("second", DeliveryState::Pending), ["Update"]);
    assert!(fed.app.catalog().public_post("news", "second").is_some());
    // ...then a Delete of the Tombstone, and the Update still waiting is dropped.
    fed.clock.advance(Duration::from_secs(60));
    fed.app.rebuild().await.unwrap();
    assert!(fed.app.catalog().public_post("news", "second").is_none());
    let rows = fed.rows("second");
    assert_eq!(fed.kinds("second", DeliveryState::Pending), ["Delete"]);
    let delete: Value = serde_json::from_str(&rows.last().unwrap().body).unwrap();
    assert_eq!(delete["id"], format!("{}#delete", fed.post_id("second")));
    assert_eq!(delete["actor"], format!("{}/users/news", fed.base));
    assert_eq!(delete["object"]["type"], "Tombstone");
    assert_eq!(delete["object"]["id"], fed.post_id("second"));
    assert_eq!(delete["object"]["formerType"], "Note");
    assert!(delete["to"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_send_followers_only_posts_to_followers() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.publish(
        "members.md",
        &common::post_dated_now("visibility = \"followers\"\n", "For followers."),
    )
    .await;
    assert_eq!(deliver_due(&fed.app).await, 1);
    let create = inbox.wait_for(1).await[0].json();
    let followers = format!("{}/users/news/followers", fed.base);
    assert_eq!(create["to"], serde_json::json!([followers]));
    assert_eq!(create["object"]["to"], serde_json::json!([followers]));
    assert_eq!(create["cc"], serde_json::json!([]));
    fed.assert_signed_by_news(&inbox.requests()[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_keep_a_queued_delivery_across_a_crash() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.publish("second.md", &SECOND).await;
    let row = fed.rows("second").remove(0);
    // A worker claimed it and the process died mid-send: the lease is all that is left.
    let now = fed.clock.now_ms();
    assert!(fed
        .app
        .store
        .lease_delivery(row.id, now, now + 300_000)
        .unwrap());
    let (_dir, app, clock) = fed.crash_and_reopen();
    let again = app.store.delivery(row.id).unwrap().unwrap();
    assert_eq!(
        (again.state, again.attempts, again.body.as_str()),
        (DeliveryState::Pending, 0, row.body.as_str())
    );
    assert_eq!(deliver_due(&app).await, 0, "still leased");
    clock.advance(Duration::from_secs(301));
    assert_eq!(deliver_due(&app).await, 1);
    let got = inbox.wait_for(1).await;
    assert_eq!(got[0].body.as_ref(), row.body.as_bytes());
    assert_eq!(
        app.store.delivery(row.id).unwrap().unwrap().state,
        DeliveryState::Done
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_a_change_recorded_just_before_a_crash() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.write_post("second.md", &SECOND);
    // The store records the new post (and what followers are owed) in one transaction; the
    // process dies before the publication is queued.
    masthead::catalog::Catalog::build(
        &fed.app.site(),
        &fed.app.urls,
        &fed.app.store,
        chrono::Utc::now(),
    )
    .unwrap();
    assert!(fed.rows("second").is_empty(), "nothing queued yet");
    // The next start finds the post unchanged, and still publishes what was owed.
    let (_dir, app, _) = fed.crash_and_reopen();
    assert_eq!(deliver_due(&app).await, 1);
    let got = inbox.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "Create");
    assert!(app.store.pending_publications().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_show_the_queue_to_the_operator() {
    let down = FakeInbox::start(&[503]).await;
    let fed = Fed::open(&[&down]).await;
    let config = fed.dir.path().join("site.toml");
    let empty = deliveries::queue_report(&config, None).unwrap().to_string();
    assert!(
        empty.starts_with("deliveries: 0 pending, 0 failed"),
        "{empty}"
    );

    fed.publish("second.md", &SECOND).await;
    deliver_due(&fed.app).await;
    let report = deliveries::queue_report(&config, None).unwrap();
    let text = report.to_string();
    let host = down
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/inbox");
    assert!(text.contains("1 pending, 0 failed"), "{text}");
    let line = text.lines().find(|l| l.starts_with(host)).expect(&text);
    assert!(line.contains("503 Service Unavailable"), "{line}");
    assert!(line.contains("(in "), "{line}");

    let missing = deliveries::queue_report(&config, Some(&fed.dir.path().join("nowhere"))).unwrap();
    assert!(
        missing.to_string().starts_with("no deliveries"),
        "{missing}"
    );
}

#[tokio::test(start_paused = true)]
async fn can_retry_on_schedule_for_two_days_then_give_up() {
    // Nothing listens on port 1: every attempt fails at once. Time is tokio's, paused: the
    // workers sleep until each retry is due and the runtime jumps there.
    let fed = Fed::open_with(&["http://127.0.0.1:1/inbox"], Clock::tokio()).await;
    fed.publish("second.md", &SECOND).await;
    let start = fed.clock.now_ms();
    let workers = Workers::spawn(fed.app.deliverer(DeliveryConfig::default()));
    let settled =
        || async { (fed.rows("second")[0].state != DeliveryState::Pending).then_some(()) };
    let (limit, every) = (Duration::from_secs(4 * 86_400), Duration::from_secs(600));
    common::poll_until("the delivery to settle", limit, every, settled).await;
    workers.stop().await;

    let row = fed.rows("second").remove(0);
    assert_eq!(row.state, DeliveryState::Failed);
    assert_eq!(row.attempts, 1 + delivery::MAX_RETRIES);
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("gave up after 17 attempts"),
        "{:?}",
        row.last_error
    );
    let days = (fed.clock.now_ms() - start) as f64 / 86_400_000.0;
    assert!((2.0..2.2).contains(&days), "gave up after {days} days");
    // Failures on at most 3 days: the host is not marked unavailable.
    let health = fed.app.store.host_health("127.0.0.1:1").unwrap();
    assert!(health.unavailable_since.is_none(), "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_hand_back_a_send_cut_short_by_shutdown() {
    let stuck = FakeInbox::held(&[202]).await;
    let mut fed = Fed::open(&[&stuck]).await;
    let config = DeliveryConfig {
        grace: Duration::from_millis(100),
        ..DeliveryConfig::default()
    };
    let running =
        app::start_with(fed.app.clone(), fed.listener.take().unwrap(), None, config).unwrap();
    fed.publish("second.md", &SECOND).await;
    stuck.wait_for(1).await;
    running.stop().await;

    // Not answered, not counted, and due again at once rather than after its lease.
    let row = fed.rows("second").remove(0);
    assert_eq!((row.state, row.attempts), (DeliveryState::Pending, 0));
    assert!(row.next_attempt_at <= fed.clock.now_ms(), "{row:?}");
    assert_eq!(stuck.answered(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_print_the_queue_from_the_command_line() {
    let down = FakeInbox::start(&[503]).await;
    let fed = Fed::open(&[&down]).await;
    fed.publish("second.md", &SECOND).await;
    deliver_due(&fed.app).await;
    let stdout = common::stdout_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_masthead"))
            .arg("deliveries")
            .arg("--config")
            .arg(fed.dir.path().join("site.toml"))
            .env_remove("RUST_LOG"),
        "masthead deliveries",
    );
    assert!(
        stdout.starts_with("deliveries: 1 pending, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("503 Service Unavailable"), "{stdout}");
}

// Live publishing: `serve` watches the site, and files saved the way editors and git save them
// reach followers, each change as exactly one activity.

/// A post dated now (so that it is pushed to followers, not only put in the outbox).
fn live_post(title: &str, body: &str) -> String {
    common::post_dated_now(&format!("title = \"{title}\"\n"), body)
}

/// The type and object id of each activity `inbox` received, in order.
fn received(inbox: &FakeInbox) -> Vec<(String, String)> {
    inbox
        .requests()
        .iter()
        .map(|r| {
            let a = r.json();
            let object = match &a["object"] {
                Value::String(id) => id.clone(),
                o => o["id"].as_str().unwrap_or_default().to_string(),
            };
            (a["type"].as_str().unwrap().to_string(), object)
        })
        .collect()
}

/// The activity types an inbox received, in order, with the last paragraph of each object's
/// `content` (empty for a Delete's Tombstone).
fn received_texts(inbox: &FakeInbox) -> Vec<(String, String)> {
    inbox
        .requests()
        .iter()
        .map(|r| {
            let a = r.json();
            let content = a["object"]["content"].as_str().unwrap_or_default();
            // "<p><strong>Second</strong></p><p>The second post.</p>" -> "The second post."
            let body = content.rsplit("<p>").next().unwrap_or_default();
            let text = body.trim_end_matches("</p>");
            (a["type"].as_str().unwrap().to_string(), text.to_string())
        })
        .collect()
}

fn pair(kind: &str, text: &str) -> (String, String) {
    (kind.to_string(), text.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_keep_a_retried_create_ahead_of_its_update() {
    // The first POST fails: the Create is retried 15-24 s later by the queue's clock.
    let inbox = FakeInbox::start(&[503, 202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.publish("second.md", &SECOND).await;
    assert_eq!(deliver_due(&fed.app).await, 1);

    fed.clock.advance(Duration::from_secs(1));
    fed.publish(
        "second.md",
        &SECOND.replace("second post", "second post, edited"),
    )
    .await;
    // The Update is due now, the Create only later: nothing may go yet, and the workers would
    // sleep until the retry rather than spin on the Update.
    assert_eq!(
        deliver_due(&fed.app).await,
        0,
        "the Update overtook the Create"
    );
    let retry = fed.rows("second")[0].next_attempt_at;
    assert_eq!(fed.app.store.next_delivery_due().unwrap(), Some(retry));

    fed.clock.advance(Duration::from_secs(25));
    // Both are due now; the Update goes only once the Create is answered.
    assert_eq!(deliver_due(&fed.app).await, 1);
    assert_eq!(deliver_due(&fed.app).await, 1);
    assert_eq!(
        received_texts(&inbox),
        [
            pair("Create", "The second post."),
            pair("Create", "The second post."),
            pair("Update", "The second post, edited."),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_deliver_in_order_with_the_workers_running() {
    // The same through the worker pool: the first POST fails, the edit comes while the Create
    // waits for its retry, and the workers are woken as the clock moves on.
    let inbox = FakeInbox::start(&[503, 202]).await;
    let mut fed = Fed::open(&[&inbox]).await;
    let running = fed.start();
    fed.publish("second.md", &SECOND).await;
    inbox.wait_for(1).await;
    fed.publish(
        "second.md",
        &SECOND.replace("second post", "second post, edited"),
    )
    .await;
    assert!(
        !inbox.received_within(2, Duration::from_millis(300)).await,
        "sent before the Create's retry: {:?}",
        received_texts(&inbox)
    );
    fed.advance_until_received(
        &inbox,
        3,
        Duration::from_secs(30),
        "the retry and the Update",
    )
    .await;
    running.stop().await;
    let kinds: Vec<String> = received_texts(&inbox).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["Create", "Create", "Update"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_send_only_the_newest_of_two_pending_updates() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.publish("second.md", &SECOND).await;
    assert_eq!(deliver_due(&fed.app).await, 1);

    fed.clock.advance(Duration::from_secs(60));
    fed.publish("second.md", &SECOND.replace("second post", "first edit"))
        .await;
    fed.clock.advance(Duration::from_secs(60));
    fed.publish("second.md", &SECOND.replace("second post", "second edit"))
        .await;
    assert_eq!(deliver_due(&fed.app).await, 1);
    assert_eq!(deliver_due(&fed.app).await, 0);
    assert_eq!(
        received_texts(&inbox),
        [
            pair("Create", "The second post."),
            pair("Update", "The second edit."),
        ]
    );
    assert_eq!(fed.kinds("second", DeliveryState::Cancelled), ["Update"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_cancel_create_and_delete_for_an_inbox_the_post_never_reached() {
    // `had` gets the Create; `down` refuses it for now, so the Create waits for its retry there.
    let had = FakeInbox::start(&[202]).await;
    let down = FakeInbox::start(&[503, 202]).await;
    let (had_url, down_url) = (had.url.clone(), down.url.clone());
    // Removals are final at once here (no grace period): the order rules are what is tested.
    let fed = Fed::open_with_keys(
        &[&had_url, &down_url],
        Clock::manual(now_ms()),
        "delete_grace_secs = 0\n",
    )
    .await;
    fed.publish("second.md", &SECOND).await;
    assert_eq!(deliver_due(&fed.app).await, 2);

    std::fs::remove_file(fed.dir.path().join("content/news/second.md")).unwrap();
    fed.app.rebuild().await.unwrap();
    // Long after every retry would be due: `had` hears of the removal, `down` of nothing more.
    fed.clock.advance(Duration::from_secs(3600));
    assert_eq!(deliver_due(&fed.app).await, 1);
    assert_eq!(deliver_due(&fed.app).await, 0);
    assert_eq!(
        received_texts(&had),
        [pair("Create", "The second post."), pair("Delete", "")]
    );
    assert_eq!(received_texts(&down), [pair("Create", "The second post.")]);
    let down_rows: Vec<(String, DeliveryState)> = fed
        .rows("second")
        .into_iter()
        .filter(|r| r.inbox == down.url)
        .map(|r| (r.kind, r.state))
        .collect();
    assert_eq!(down_rows, [("Create".into(), DeliveryState::Cancelled)]);
}

/// The samples of a Prometheus text exposition by `name{labels}`, after checking that every
/// sample's family was announced with `# HELP` and `# TYPE ... gauge` first.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut announced = std::collections::BTreeSet::new();
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge", "{line}");
            announced.insert(name.to_string());
        } else if line.starts_with("# HELP ") {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').expect(line);
            let family = series.split('{').next().unwrap();
            assert!(
                announced.contains(family),
                "{family} has no # TYPE before it"
            );
            samples.insert(series.to_string(), value.parse().expect(line));
        }
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_serve_the_queue_as_prometheus_metrics_on_their_own_address() {
    let took = FakeInbox::start(&[202]).await;
    let refused = FakeInbox::start(&[403]).await;
    let retrying = FakeInbox::start(&[503]).await;
    let inboxes = [
        took.url.as_str(),
        refused.url.as_str(),
        retrying.url.as_str(),
    ];
    let mut fed = Fed::open_configured(&inboxes, Clock::manual(now_ms()), |toml| {
        toml.replace("[site]\n", "[site]\nmetrics_listen = \"127.0.0.1:0\"\n")
    })
    .await;
    let mut asks = follower("https://asks.example/inbox", 9);
    asks.actor = "desk".into();
    asks.state = FollowState::Pending;
    fed.app.store.upsert_follower(&asks).unwrap();
    let running = fed.start();
    let metrics_addr = running.metrics_addr.expect("metrics_listen is set");
    assert_ne!(metrics_addr, running.addr);
    fed.publish("second.md", &SECOND).await;
    let settled = || async {
        let rows = fed.rows("second");
        rows.iter()
            .all(|r| r.state != DeliveryState::Pending || r.attempts == 1)
            .then_some(rows)
    };
    let (limit, every) = (Duration::from_secs(10), Duration::from_millis(20));
    let rows = common::poll_until("every inbox answered once", limit, every, settled).await;

    let got = common::fetch(
        &format!("http://{metrics_addr}/metrics"),
        Method::GET,
        "text/plain",
        &[],
    )
    .await;
    assert_eq!(got.status, hyper::StatusCode::OK);
    assert_eq!(
        got.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(got.header("cache-control"), "no-store");
    let samples = parse_metrics(&got.text());
    let retry = rows.iter().find(|r| r.inbox == retrying.url).unwrap();
    let queued_at = rows[0].created_at as f64 / 1000.0;
    let news = |family: &str| format!("{family}{{actor=\"news\"}}");
    let desk = |family: &str| format!("{family}{{actor=\"desk\"}}");
    let expected: std::collections::BTreeMap<String, f64> = [
        (news("masthead_followers"), 3.0),
        (desk("masthead_followers"), 0.0),
        (news("masthead_follow_requests"), 0.0),
        (desk("masthead_follow_requests"), 1.0),
        (news("masthead_deliveries_queued"), 1.0),
        (desk("masthead_deliveries_queued"), 0.0),
        (news("masthead_deliveries_in_flight"), 0.0),
        (desk("masthead_deliveries_in_flight"), 0.0),
        (news("masthead_deliveries_failed"), 1.0),
        (desk("masthead_deliveries_failed"), 0.0),
        (news("masthead_deliveries_delivered"), 1.0),
        (desk("masthead_deliveries_delivered"), 0.0),
        (
            news("masthead_delivery_next_retry_timestamp_seconds"),
            retry.next_attempt_at as f64 / 1000.0,
        ),
        (news("masthead_unavailable_hosts"), 0.0),
        (desk("masthead_unavailable_hosts"), 0.0),
        (news("masthead_last_publish_timestamp_seconds"), queued_at),
        (news("masthead_last_publish_inboxes"), 3.0),
        (news("masthead_last_publish_inboxes_done"), 1.0),
        (news("masthead_last_publish_inboxes_failed"), 1.0),
        (news("masthead_publications_held"), 0.0),
        (desk("masthead_publications_held"), 0.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(samples, expected);

    // Only there: the public address does not serve it.
    let public = common::fetch(
        &format!("http://{}/metrics", running.addr),
        Method::GET,
        "text/plain",
        &[],
    )
    .await;
    assert_eq!(public.status, hyper::StatusCode::NOT_FOUND);
    running.stop().await;
}

/// Asserts that `inbox` gets nothing beyond its first `n` requests within a second (the
/// debounce is 200 ms, and a rebuild and a delivery on loopback take a few more).
async fn assert_nothing_more(inbox: &FakeInbox, n: usize) {
    assert!(
        !inbox.received_within(n + 1, Duration::from_secs(1)).await,
        "unexpected activity: {:?}",
        &received(inbox)[n..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_each_editor_save_as_exactly_one_activity() {
    use std::fs;
    let inbox = FakeInbox::start(&[202]).await;
    // A removal is sent at once (no grace period) so that one save is one activity, removals too.
    let mut fed = Fed::open_with_keys(
        &[inbox.url.as_str()],
        Clock::manual(now_ms()),
        "delete_grace_secs = 0\n",
    )
    .await;
    let mut running = fed.start();
    assert_eq!(
        running.watch().unwrap(),
        masthead::content::watch::Mode::Native
    );
    let news = fed.dir.path().join("content/news");
    let id = fed.post_id("fresh");

    // vim: probes the folder with `4913`, keeps a swap file, writes beside the post and renames
    // it over, leaves a backup.
    fs::write(news.join("4913"), "").unwrap();
    fs::remove_file(news.join("4913")).unwrap();
    fs::write(news.join(".fresh.md.swp"), "swap").unwrap();
    fs::write(news.join("fresh.md.tmp"), live_post("Fresh", "Just saved.")).unwrap();
    fs::rename(news.join("fresh.md.tmp"), news.join("fresh.md")).unwrap();
    fs::write(news.join("fresh.md~"), "").unwrap();
    inbox.wait_for(1).await;
    assert_eq!(received(&inbox), [("Create".into(), id.clone())]);
    assert_nothing_more(&inbox, 1).await;

    // VS Code: writes in place. An editor that saves twice in a row sends one Update.
    let edited = live_post("Fresh", "Just saved, then edited.");
    fs::write(news.join("fresh.md"), &edited).unwrap();
    fs::write(news.join("fresh.md"), &edited).unwrap();
    let update = inbox.wait_for(2).await[1].json();
    assert_eq!(update["type"], "Update");
    assert!(
        update["object"]["content"]
            .as_str()
            .unwrap()
            .contains("then edited"),
        "{update}"
    );
    assert_nothing_more(&inbox, 2).await;

    // Saving the same bytes again (JetBrains' safe write), or only touching swap and lock
    // files, sends nothing.
    fs::write(news.join("fresh.md___jb_tmp___"), &edited).unwrap();
    fs::rename(news.join("fresh.md___jb_tmp___"), news.join("fresh.md")).unwrap();
    fs::write(news.join(".fresh.md.swp"), "swap again").unwrap();
    fs::write(news.join(".#fresh.md"), "lock").unwrap();
    assert_nothing_more(&inbox, 2).await;

    // A file that vanishes before the debounce is over was never there.
    fs::write(news.join("ghost.md"), live_post("Ghost", "Gone at once.")).unwrap();
    fs::remove_file(news.join("ghost.md")).unwrap();
    assert_nothing_more(&inbox, 2).await;

    // Removed: a Delete, and the post is gone.
    fs::remove_file(news.join("fresh.md")).unwrap();
    inbox.wait_for(3).await;
    assert_eq!(received(&inbox)[2], ("Delete".into(), id.clone()));
    assert_nothing_more(&inbox, 3).await;
    let gone = common::fetch(&id, Method::GET, common::AP, &[]).await;
    assert_eq!(gone.status, hyper::StatusCode::GONE);
    running.stop().await;
}

// [livegit] publish = "commit": what is committed on the branch goes out, nothing else. ---------

/// Runs `git` in `dir` with a fixed identity and no user or system config.
fn git(dir: &Path, args: &[&str]) {
    let mut git = std::process::Command::new("git");
    git.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Editor",
            "-c",
            "user.email=editor@city.example",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    common::stdout_of(
        &mut git,
        &format!("git {args:?} (scripts/test.sh installs git)"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_a_branch_switch_of_many_posts_once_each() {
    let inbox = FakeInbox::start(&[202]).await;
    let mut fed = Fed::open(&[&inbox]).await;
    let mut running = fed.start();
    // A branch that adds 40 posts, made while nothing watches; the work tree is back on main.
    let site = fed.dir.path();
    std::fs::write(site.join(".gitignore"), ".masthead/\n").unwrap();
    git(site, &["init", "-q", "-b", "main"]);
    git(site, &["add", "-A"]);
    git(site, &["commit", "-q", "-m", "the site"]);
    git(site, &["checkout", "-q", "-b", "more"]);
    for i in 0..40 {
        fed.write_post(
            &format!("batch-{i:02}.md"),
            &live_post(&format!("Batch {i}"), "One of many."),
        );
    }
    git(site, &["add", "-A"]);
    git(site, &["commit", "-q", "-m", "forty posts"]);
    git(site, &["checkout", "-q", "main"]);
    running.watch().unwrap();

    git(site, &["checkout", "-q", "more"]);
    inbox.wait_for(40).await;
    assert_nothing_more(&inbox, 40).await;
    let mut got = received(&inbox);
    got.sort();
    let want: Vec<(String, String)> = (0..40)
        .map(|i| ("Create".to_string(), fed.post_id(&format!("batch-{i:02}"))))
        .collect();
    assert_eq!(got, want, "each post of the branch once, as a Create");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_reload_site_toml_live_sending_a_profile_update_and_keeping_the_last_good_one() {
    let inbox = FakeInbox::start(&[202]).await;
    let desk_inbox = FakeInbox::start(&[202]).await;
    let mut fed = Fed::open(&[&inbox]).await;
    let mut desk_follower = follower(&desk_inbox.url, 9);
    desk_follower.actor = "desk".into();
    fed.app.store.upsert_follower(&desk_follower).unwrap();
    let mut running = fed.start();
    running.watch().unwrap();
    let config = fed.dir.path().join("site.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let actor = |handle: &str| format!("{}/users/{handle}", fed.base);
    let name_of =
        |handle: String| async move { common::fetch(&handle, Method::GET, common::AP, &[]).await };

    // An invalid edit is reported and changes nothing; the server keeps serving.
    std::fs::write(&config, text.replace("name = \"City News\"", "name = 5")).unwrap();
    assert_nothing_more(&inbox, 0).await;
    assert_eq!(name_of(actor("news")).await.json()["name"], "City News");

    // A new name goes out as an Update of the actor, saved the way vim saves (rename over).
    let renamed = text.replace("name = \"City News\"", "name = \"City News Desk\"");
    std::fs::write(fed.dir.path().join("site.toml.tmp"), &renamed).unwrap();
    std::fs::rename(fed.dir.path().join("site.toml.tmp"), &config).unwrap();
    let update = inbox.wait_for(1).await[0].json();
    assert_eq!(update["type"], "Update");
    assert_eq!(update["actor"], actor("news"));
    assert_eq!(update["object"]["id"], actor("news"));
    assert_eq!(update["object"]["name"], "City News Desk");
    fed.assert_signed_by_news(&inbox.requests()[0]);
    assert_eq!(
        name_of(actor("news")).await.json()["name"],
        "City News Desk"
    );
    assert_nothing_more(&inbox, 1).await;

    // A new [[actor]] is served at once with a key of its own; a removed one answers 410 and
    // its Delete is held (nothing is sent) until the operator confirms.
    let grown = renamed.replace(
        "[[actor]]\nhandle = \"desk\"\nname = \"Front Desk\"\nmanually_approves_followers = true\n",
        "[[actor]]\nhandle = \"events\"\nname = \"City Events\"\n",
    );
    assert_ne!(grown, renamed);
    std::fs::create_dir_all(fed.dir.path().join("content/events")).unwrap();
    std::fs::write(&config, &grown).unwrap();
    let events = common::eventually("the new actor to be served", || async {
        let got = name_of(actor("events")).await;
        (got.status == hyper::StatusCode::OK).then(|| got.json())
    })
    .await;
    assert_eq!(events["name"], "City Events");
    assert!(events["publicKey"]["publicKeyPem"]
        .as_str()
        .unwrap()
        .contains("PUBLIC KEY"));
    assert_eq!(name_of(actor("desk")).await.status, hyper::StatusCode::GONE);
    assert_nothing_more(&inbox, 1).await;
    assert_nothing_more(&desk_inbox, 0).await;
    let site = fed.app.site();
    assert_eq!(
        app::held_actor_removals(&site, &fed.app.store).unwrap(),
        ["desk"]
    );

    // Confirmed (as `masthead publish --confirm` does, beside the running server): the Delete
    // of the actor goes to its followers, signed with its kept key.
    let confirmed = app::confirm_actor_removals(&config, None).unwrap();
    assert_eq!(confirmed, [("desk".to_string(), 1)]);
    fed.clock.advance(Duration::from_secs(60));
    fed.app.delivery_wake.notify_one();
    let delete = desk_inbox.wait_for(1).await[0].clone();
    let body = delete.json();
    assert_eq!(
        (&body["type"], &body["actor"], &body["object"]),
        (
            &json!("Delete"),
            &json!(actor("desk")),
            &json!(actor("desk"))
        )
    );
    let signed = signatures::parse(&Method::POST, &delete.target, &delete.headers).unwrap();
    assert_eq!(signed.key_id(), format!("{}#main-key", actor("desk")));
    let key = PublicKey::from_pem(&fed.app.key("desk").unwrap().public_pem).unwrap();
    signatures::verify(&signed, &key, &delete.body, SystemTime::now()).unwrap();
    assert!(app::held_actor_removals(&site, &fed.app.store)
        .unwrap()
        .is_empty());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_republish_a_post_whose_file_did_not_change() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.publish("second.md", &SECOND).await;
    deliver_due(&fed.app).await;
    let config = fed.dir.path().join("site.toml");
    let republish = |post: Option<&str>| app::republish(&config, None, post);

    // While the app runs on the same data dir, as `masthead republish news/second` would.
    let done = republish(Some("news/second")).unwrap();
    assert_eq!(
        done,
        [app::Republished {
            actor: "news".into(),
            slug: "second".into(),
            inboxes: 1
        }]
    );
    let pending: Vec<Value> = fed
        .rows("second")
        .iter()
        .filter(|r| r.state == DeliveryState::Pending)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["type"], "Update");
    assert_eq!(pending[0]["object"]["id"], fed.post_id("second"));
    assert!(pending[0]["object"]["updated"].is_string());
    // Queued by the system clock, a little ahead of the app's manual one.
    fed.clock.advance(Duration::from_secs(60));
    deliver_due(&fed.app).await;
    assert_eq!(inbox.wait_for(2).await[1].json()["type"], "Update");

    // --all: every post, the back catalogue too, oldest first.
    let all = republish(None).unwrap();
    let posts: Vec<(&str, &str)> = all.iter().map(|r| (&*r.actor, &*r.slug)).collect();
    assert_eq!(
        posts,
        [("news", "hello"), ("news", "second"), ("desk", "open")]
    );

    let err = republish(Some("news/nope")).unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot republish: news/nope is not published (a draft, `federate = false`, or no such post; `masthead check` lists the posts)"
    );
    let err = republish(Some("nobody/hello")).unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot republish: \"nobody/hello\" is not a post: write handle/slug (news/hello) or the post's URL"
    );
}

/// The `federated` site with `extra` lines under `[site]` (after `publish = "commit"`), in a
/// git repository on `main` with everything committed (the data dir ignored).
async fn committed_site(extra: &str) -> (TempDir, TcpListener, String) {
    let (dir, listener, base) = common::prepare("federated").await;
    let config = dir.path().join("site.toml");
    let toml = std::fs::read_to_string(&config).unwrap().replace(
        "[site]\n",
        &format!("[site]\npublish = \"commit\"\n{extra}"),
    );
    std::fs::write(&config, toml).unwrap();
    std::fs::write(dir.path().join(".gitignore"), ".masthead/\n").unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "The site"]);
    (dir, listener, base)
}

/// Serves the site at `dir` as `serve` does in commit mode, `inbox` following `news`, and
/// follows the branch.
fn serve_committed(
    dir: &Path,
    listener: TcpListener,
    inbox: &FakeInbox,
) -> (Running, tokio::task::JoinHandle<()>) {
    let mut site = Site::load(&dir.join("site.toml")).unwrap().site;
    let store = Store::open(&site.data_dir).unwrap();
    store.upsert_follower(&follower(&inbox.url, 0)).unwrap();
    let (source, commit) = app::committed_site(&mut site)
        .unwrap()
        .expect("commit mode");
    let (app, _) = App::with_store(site, store).unwrap();
    let running =
        app::start_with(Arc::new(app), listener, None, DeliveryConfig::default()).unwrap();
    let following = app::follow_commits(&running.app, source, commit);
    (running, following)
}

/// Every queued row about the post `slug` of `news`.
fn rows_of(app: &App, base: &str, slug: &str) -> Vec<masthead::store::Delivery> {
    app.store
        .deliveries_of_object(&format!("{base}/users/news/posts/{slug}"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_only_what_is_committed_on_the_branch() {
    let inbox = FakeInbox::start(&[202]).await;
    let (dir, listener, base) = committed_site("").await;
    let site = dir.path();
    // site.toml edited but not committed: the committed one is served.
    let toml = std::fs::read_to_string(site.join("site.toml")).unwrap();
    std::fs::write(
        site.join("site.toml"),
        toml.replace("name = \"City News\"", "name = \"Uncommitted News\""),
    )
    .unwrap();
    let (running, following) = serve_committed(site, listener, &inbox);
    let app = running.app.clone();
    let actor = common::fetch(&format!("{base}/users/news"), Method::GET, common::AP, &[])
        .await
        .json();
    assert_eq!(actor["name"], "City News", "the committed site.toml");

    // Saved, not committed: a rebuild (what a watcher does on save) queues nothing.
    let fresh =
        common::post_dated_now("title = \"Fresh\"\n", "Fresh news.\n\n![A map](avatar.png)");
    common::write_post(site, "news/fresh.md", &fresh);
    common::write_post(site, "news/hello.md", "+++\ntitle = \"Hello, edited\"\ndate = 2026-11-20T09:00:00Z\n+++\n\nAn uncommitted edit.\n");
    app.rebuild().await.unwrap();
    assert!(rows_of(&app, &base, "fresh").is_empty());
    assert!(rows_of(&app, &base, "hello").is_empty());
    assert_eq!(
        common::fetch(
            &format!("{base}/users/news/posts/fresh"),
            Method::GET,
            common::AP,
            &[]
        )
        .await
        .status,
        404,
        "a draft saved but not committed is not served"
    );

    // Committed (the new post only): exactly one Create, with the media URL of save mode.
    git(site, &["add", "content/news/fresh.md"]);
    git(site, &["commit", "-q", "-m", "Fresh news"]);
    let got = inbox.wait_for(1).await;
    let create = got[0].json();
    assert_eq!(create["type"], "Create");
    assert_eq!(
        create["object"]["id"],
        format!("{base}/users/news/posts/fresh")
    );
    let image = format!("{base}/media/content/news/avatar.png");
    assert_eq!(create["object"]["attachment"][0]["url"], image.as_str());
    let served = common::fetch(&image, Method::GET, "image/*", &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body.as_ref(),
        std::fs::read(site.join("content/news/avatar.png")).unwrap()
    );
    assert_eq!(rows_of(&app, &base, "fresh").len(), 1);
    assert!(
        rows_of(&app, &base, "hello").is_empty(),
        "the edit is still not committed"
    );

    // A commit on another branch sends nothing; the next commit on main goes out alone.
    git(site, &["checkout", "-q", "-b", "draft"]);
    common::write_post(
        site,
        "news/other.md",
        &common::post_dated_now("", "On a branch."),
    );
    git(site, &["add", "content/news/other.md"]);
    git(site, &["commit", "-q", "-m", "A draft branch"]);
    git(site, &["checkout", "-q", "main"]);
    common::write_post(
        site,
        "news/later.md",
        &common::post_dated_now("", "Later news."),
    );
    git(site, &["add", "content/news/later.md"]);
    git(site, &["commit", "-q", "-m", "Later news"]);
    let got = inbox.wait_for(2).await;
    assert_eq!(
        got[1].json()["object"]["id"],
        format!("{base}/users/news/posts/later")
    );
    assert!(rows_of(&app, &base, "other").is_empty());
    assert!(rows_of(&app, &base, "hello").is_empty());
    following.abort();
    running.stop().await;
    assert_eq!(inbox.requests().len(), 2, "one Create per commit on main");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_a_push_to_the_bare_repository_serve_watches() {
    let inbox = FakeInbox::start(&[202]).await;
    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["init", "-q", "--bare"]);
    let repo = bare.path().display().to_string();
    let (dir, listener, base) = committed_site(&format!(
        "publish_repo = {repo:?}\npublish_branch = \"main\"\n"
    ))
    .await;
    let site = dir.path();
    git(site, &["commit", "-q", "--amend", "--no-edit"]);
    git(site, &["push", "-q", &repo, "main"]);
    let (running, following) = serve_committed(site, listener, &inbox);
    let app = running.app.clone();

    // Committed in the clone but not pushed: the bare repository's branch has not moved.
    common::write_post(
        site,
        "news/pushed.md",
        &common::post_dated_now("", "Pushed news."),
    );
    git(site, &["add", "-A"]);
    git(site, &["commit", "-q", "-m", "Pushed news"]);
    app.rebuild().await.unwrap();
    assert!(rows_of(&app, &base, "pushed").is_empty());

    git(site, &["push", "-q", &repo, "main"]);
    let got = inbox.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "Create");
    assert_eq!(
        got[0].json()["object"]["id"],
        format!("{base}/users/news/posts/pushed")
    );
    following.abort();
    running.stop().await;
    assert_eq!(inbox.requests().len(), 1);
}

/// The kinds of every row queued about a post of `news`, in order.
fn kinds(fed: &Fed, slug: &str) -> Vec<String> {
    fed.rows(slug).into_iter().map(|r| r.kind).collect()
}

/// A manual clock at `y-m-d h:mi` UTC.
fn clock_at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> Clock {
    use chrono::TimeZone;
    Clock::manual(
        chrono::Utc
            .with_ymd_and_hms(y, m, d, h, mi, 0)
            .unwrap()
            .timestamp_millis(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_a_date_only_post_at_the_moment_it_first_goes_out_that_day() {
    let inbox = FakeInbox::start(&[202]).await;
    // 15:30 in Paris (UTC+1) on 20 November 2026.
    let clock = clock_at(2026, 11, 20, 14, 30);
    let fed = Fed::open_with_keys(
        &[&inbox.url],
        clock.clone(),
        "timezone = \"Europe/Paris\"\n",
    )
    .await;
    fed.publish(
        "today.md",
        "+++\ndate = 2026-11-20\n+++\n\nOut this afternoon.\n",
    )
    .await;
    let rows = fed.rows("today");
    assert_eq!(kinds(&fed, "today"), ["Create"]);
    let create: Value = serde_json::from_str(&rows[0].body).unwrap();
    assert_eq!(create["object"]["published"], "2026-11-20T14:30:00Z");

    // A day that is over: its start in Paris, too old to push, in the outbox all the same.
    fed.publish("monday.md", "+++\ndate = 2026-11-16\n+++\n\nFrom Monday.\n")
        .await;
    assert!(fed.rows("monday").is_empty());
    let monday = fed.app.catalog();
    let monday = monday.public_post("news", "monday").unwrap();
    assert_eq!(
        masthead::catalog::published(monday).to_rfc3339(),
        "2026-11-15T23:00:00+00:00"
    );

    // The next day, after a restart: the same `published` as followers got.
    clock.advance(Duration::from_secs(24 * 3600));
    let (_dir, app, _) = fed.crash_and_reopen();
    let catalog = app.catalog();
    let today = catalog.public_post("news", "today").unwrap();
    assert_eq!(
        masthead::catalog::published(today).to_rfc3339(),
        "2026-11-20T14:30:00+00:00"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_import_an_archive_without_pushing_anything() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    for n in 1..=20 {
        fed.write_post(
            &format!("old-{n}.md"),
            &format!("+++\ndate = 2025-03-{n:02}T09:00:00Z\n+++\n\nFrom the archive, {n}.\n"),
        );
    }
    let report = fed.app.rebuild().await.unwrap();
    assert_eq!(report.quiet.len(), 20);
    assert!(fed.app.store.pending_publications().unwrap().is_empty());
    assert_eq!(deliver_due(&fed.app).await, 0);
    // Served and in the outbox.
    assert_eq!(fed.app.catalog().posts_of("news").len(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_schedule_a_future_post_until_its_time_even_across_a_restart() {
    let inbox = FakeInbox::start(&[202]).await;
    let mut fed = Fed::open(&[&inbox]).await;
    let running = fed.start();
    let at = chrono::DateTime::from_timestamp_millis(fed.clock.now_ms()).unwrap()
        + chrono::TimeDelta::hours(2);
    let date = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    fed.publish("later.md", &format!("+++\ndate = {date}\n+++\n\nAt two.\n"))
        .await;
    let got = common::fetch(&fed.post_id("later"), Method::GET, common::AP, &[]).await;
    assert_eq!(got.status, 404);
    assert!(fed.rows("later").is_empty());
    let next = fed.app.catalog().next_scheduled().unwrap();
    assert_eq!(next.timestamp(), at.timestamp());
    running.stop().await;

    // A restart before its time keeps it scheduled; once the time comes, the timer of the
    // running server publishes it.
    let (dir, app, clock) = fed.crash_and_reopen();
    assert!(app.catalog().public_post("news", "later").is_none());
    clock.advance(Duration::from_secs(2 * 3600));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = app::start_with(app.clone(), listener, None, DeliveryConfig::default()).unwrap();
    let base = Site::load(&dir.path().join("site.toml"))
        .unwrap()
        .site
        .base_url;
    let id = format!("{}users/news/posts/later", base);
    let rows = common::poll_until(
        "the scheduled post's Create",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let rows = app.store.deliveries_of_object(&id).unwrap();
            (!rows.is_empty()).then_some(rows)
        },
    )
    .await;
    running.stop().await;
    assert_eq!(rows[0].kind, "Create");
    let create: Value = serde_json::from_str(&rows[0].body).unwrap();
    assert_eq!(create["object"]["published"], date);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_hold_a_branch_switch_that_removes_twenty_posts_until_confirmed() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    for n in 1..=20 {
        fed.write_post(
            &format!("p{n}.md"),
            &SECOND.replace("Second", &format!("Post {n}")),
        );
    }
    fed.app.rebuild().await.unwrap();
    let creates = |fed: &Fed| {
        (1..=20)
            .map(|n| fed.rows(&format!("p{n}")).len())
            .sum::<usize>()
    };
    assert_eq!(creates(&fed), 20);
    let mut sent = 0;
    while sent < 20 {
        let n = deliver_due(&fed.app).await;
        assert!(n > 0, "only {sent} of 20 Creates went out");
        sent += n;
    }

    // A branch switch takes the twenty files away at once.
    for n in 1..=20 {
        std::fs::remove_file(fed.dir.path().join(format!("content/news/p{n}.md"))).unwrap();
    }
    let report = fed.app.rebuild().await.unwrap();
    assert_eq!(report.held.len(), 20);
    // A day later: still served, nothing sent.
    fed.clock.advance(Duration::from_secs(24 * 3600));
    fed.app.rebuild().await.unwrap();
    assert_eq!(creates(&fed), 20, "no Delete queued");
    assert!(fed.app.catalog().public_post("news", "p7").is_some());
    let held = fed.app.store.held_removals().unwrap();
    assert_eq!(held.len(), 20);
    assert!(held.iter().all(|r| r.is_held()));

    masthead::commands::publish::run(masthead::cli::PublishArgs {
        site: masthead::cli::SiteArgs {
            config: fed.dir.path().join("site.toml"),
            data_dir: None,
        },
        confirm: true,
    })
    .unwrap();
    fed.app.rebuild().await.unwrap();
    for n in 1..=20 {
        assert_eq!(kinds(&fed, &format!("p{n}")), ["Create", "Delete"]);
    }
    assert!(fed.app.catalog().public_post("news", "p7").is_none());
    assert!(fed.app.store.tombstone("news", "p7").unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_bring_a_removed_file_back_within_the_grace_period_without_sending_anything() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.publish("second.md", &SECOND).await;
    assert_eq!(deliver_due(&fed.app).await, 1);
    // An editor's save by delete-then-write, a `git stash` and `pop`: gone, then back.
    std::fs::remove_file(fed.dir.path().join("content/news/second.md")).unwrap();
    fed.app.rebuild().await.unwrap();
    fed.clock.advance(Duration::from_secs(30));
    fed.publish("second.md", &SECOND).await;
    fed.clock.advance(Duration::from_secs(60));
    fed.app.rebuild().await.unwrap();
    assert_eq!(kinds(&fed, "second"), ["Create"]);
    assert!(fed.app.store.held_removals().unwrap().is_empty());

    // Gone for good: served for the grace period, then the Delete and a 410.
    std::fs::remove_file(fed.dir.path().join("content/news/second.md")).unwrap();
    fed.app.rebuild().await.unwrap();
    fed.clock.advance(Duration::from_secs(59));
    fed.app.rebuild().await.unwrap();
    assert_eq!(kinds(&fed, "second"), ["Create"]);
    assert!(fed.app.catalog().public_post("news", "second").is_some());
    fed.clock.advance(Duration::from_secs(1));
    fed.app.rebuild().await.unwrap();
    assert_eq!(kinds(&fed, "second"), ["Create", "Delete"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_send_nothing_when_only_whitespace_or_masthead_rendering_changes() {
    let inbox = FakeInbox::start(&[202]).await;
    let fed = Fed::open(&[&inbox]).await;
    fed.publish("second.md", &SECOND).await;
    // Trailing spaces, CRLF line ends, a blank line more, a paragraph re-wrapped.
    let reformatted = SECOND
        .replace('\n', "  \r\n")
        .replace("The second post.", "The second\npost.\n\n");
    fed.clock.advance(Duration::from_secs(60));
    fed.publish("second.md", &reformatted).await;
    assert_eq!(kinds(&fed, "second"), ["Create"]);

    // The row as an older masthead rendered it: another render key and rendering, the same
    // source. The rebuild renders it again and tells no one.
    let current = fed.app.catalog();
    let record = current.public_post("news", "second").unwrap();
    let older = NewPost {
        actor: "news",
        slug: "second",
        source: &record.post.source,
        hash: "rendered-by-masthead-0.0",
        source_hash: &record.post.source_hash.to_hex(),
        rendered: &serde_json::to_string(&masthead::content::Post {
            html: "<p>old rendering</p>".into(),
            ..(*record.post).clone()
        })
        .unwrap(),
        object_type: "Note",
        published: record.first_seen,
    };
    let changed = [record.post.source.to_path_buf()];
    fed.app
        .store
        .sync_posts(
            &[older],
            Scope::Sources(&changed),
            &SyncPolicy::immediate(chrono::Utc::now()),
        )
        .unwrap();
    fed.app.rebuild().await.unwrap();
    assert_eq!(kinds(&fed, "second"), ["Create"]);
    let served = fed.app.catalog();
    let html = served.public_post("news", "second").unwrap().html();
    assert!(html.contains("The second"), "rendered again: {html}");

    // A word changed: an Update.
    fed.clock.advance(Duration::from_secs(60));
    fed.publish(
        "second.md",
        &reformatted.replace("second\npost", "second\nnote"),
    )
    .await;
    assert_eq!(kinds(&fed, "second"), ["Create", "Update"]);
}

/// The `editor` fixture as the one outgoing-post plugin: it vetoes `[embargo]` posts and traps
/// in its first two reviews of a `[flaky]` post.
fn with_editor(toml: String) -> String {
    let wasm = common::plugins::wasm("fixture-editor");
    format!(
        "{toml}\n[[plugin]]\nname = \"editor\"\npath = \"{}\"\n",
        wasm.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_a_post_a_failing_plugin_held_back_once_it_answers_and_keep_a_vetoed_one_held()
{
    let inbox = FakeInbox::start(&[202]).await;
    let mut fed = Fed::open_configured(&[&inbox.url], Clock::manual(now_ms()), with_editor).await;
    let running = fed.start();
    fed.write_post(
        "flaky.md",
        &common::post_dated_now("", "[flaky] The ferry runs again."),
    );
    fed.publish(
        "embargo.md",
        &common::post_dated_now("", "[embargo] The tram line opens in May."),
    )
    .await;
    let status = |slug: &str| {
        let url = fed.post_id(slug);
        async move {
            common::fetch(&url, Method::GET, common::AP, &[])
                .await
                .status
        }
    };
    // The plugin trapped: the post is held as a failure, the embargoed one as a decision.
    assert_eq!(status("flaky").await, 404);
    assert_eq!(status("embargo").await, 404);
    let held: Vec<(String, bool)> = fed
        .app
        .store
        .held_posts()
        .unwrap()
        .into_iter()
        .map(|h| (h.slug, h.failed))
        .collect();
    assert_eq!(held, [("embargo".into(), false), ("flaky".into(), true)]);
    let on_hold = fed.app.store.publications_on_hold().unwrap();
    let flaky = on_hold.iter().find(|h| h.what == "flaky").unwrap();
    assert!(
        flaky
            .reason
            .starts_with("held back: plugin editor failed: ")
            && flaky.reason.contains("masthead reviews it again by itself"),
        "{}",
        flaky.reason
    );

    // No file changes: the clock moves on and masthead asks the plugin again, 30 s then 60 s
    // later (it traps once more, then answers). The store says when, for `masthead status`.
    let start = fed.clock.now_ms();
    let next_review = |at: i64, reviews: u32| {
        let store = fed.app.store.clone();
        async move {
            let held = store.held_posts().unwrap();
            let flaky = held.iter().find(|h| h.slug == "flaky")?;
            (flaky.next_review == Some(NextReview { at, reviews })).then_some(())
        }
    };
    let recorded = |what: &'static str, at: i64, reviews: u32| {
        common::poll_until(
            what,
            Duration::from_secs(10),
            Duration::from_millis(20),
            move || next_review(at, reviews),
        )
    };
    recorded("the first review recorded 30 s on", start + 30_000, 0).await;
    fed.clock.advance(Duration::from_secs(30));
    recorded(
        "the second review recorded 60 s after the first, which failed",
        start + 90_000,
        1,
    )
    .await;
    common::poll_until(
        "the held post served after the plugin recovers",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            if status("flaky").await == 200 {
                return Some(());
            }
            fed.clock.advance(Duration::from_secs(10));
            None
        },
    )
    .await;
    let moved = fed.clock.now_ms() - start;
    assert!(
        moved >= 90_000,
        "published {moved} ms on: the second retry waits 60 s after the first's 30 s"
    );
    let got = inbox.wait_for(1).await;
    let create: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(create["type"], "Create");
    assert_eq!(create["object"]["id"], fed.post_id("flaky"));

    // The veto is a decision: retries never reach it, however long the clock runs.
    fed.clock.advance(Duration::from_secs(3600));
    assert!(!inbox.received_within(2, Duration::from_millis(500)).await);
    assert_eq!(status("embargo").await, 404);
    let held = fed.app.store.held_posts().unwrap();
    assert_eq!(
        (held.len(), &*held[0].slug, held[0].failed),
        (1, "embargo", false)
    );
    // Published: its row is gone, and a veto is never scheduled for review.
    assert_eq!(held[0].next_review, None);
    running.stop().await;
}

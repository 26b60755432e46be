//! The delivery queue survives `kill -9` of the real binary: a Create that failed once is still
//! owed after the process is killed, and the next `masthead serve` delivers it when it is due.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::inbox::FakeInbox;
use masthead::store::{FollowState, Follower, Store};

/// Starts `masthead serve` and returns once it logged `serving`.
fn serve(config: &Path, data_dir: &Path) -> Child {
    common::spawn_serve(config, data_dir).0
}

/// SIGKILL: no shutdown path runs.
fn kill_9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits (at most `limit`) until `inbox` has answered `n` requests.
async fn answered(inbox: &FakeInbox, n: usize, what: &str, limit: Duration) {
    let done = || async { (inbox.answered() >= n).then_some(()) };
    common::poll_until(what, limit, Duration::from_millis(100), done).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_deliver_after_kill_9() {
    // The follower's inbox is down once (503), then up.
    let inbox = FakeInbox::start(&[503, 202]).await;
    let (dir, listener, _) = common::prepare("federated").await;
    drop(listener);
    let config = dir.path().join("site.toml");
    let data = dir.path().join("data");

    // First start: the first scan publishes nothing.
    kill_9(serve(&config, &data));

    // A follower, and a new post.
    let store = Store::open(&data).unwrap();
    store
        .upsert_follower(&Follower {
            actor: "news".into(),
            follower: "http://127.0.0.1:9/users/reader".into(),
            follow_id: "http://127.0.0.1:9/follows/1".into(),
            inbox: inbox.url.clone(),
            shared_inbox: None,
            state: FollowState::Accepted,
            created_at: String::new(),
            hold: None,
        })
        .unwrap();
    drop(store);
    common::write_post(
        dir.path(),
        "news/urgent.md",
        &common::post_dated_now("", "Road closed."),
    );

    // Second start publishes the Create; the inbox refuses it once; then the process dies.
    let child = serve(&config, &data);
    answered(&inbox, 1, "the first attempt", Duration::from_secs(30)).await;
    kill_9(child);
    let first = inbox.requests();
    assert_eq!(first.len(), 1);
    let create_id = first[0].json()["id"].as_str().unwrap().to_string();
    assert!(
        create_id.ends_with("/users/news/posts/urgent/activity"),
        "{create_id}"
    );

    // Third start: the owed delivery is still in the queue and goes out: at once if the kill cut
    // the send off mid-lease, else when the retry is due (16 to 25 s, Mastodon's schedule).
    let child = serve(&config, &data);
    answered(&inbox, 2, "the retried delivery", Duration::from_secs(60)).await;
    kill_9(child);
    let requests = inbox.requests();
    assert_eq!(requests[1].json()["id"], create_id);
    assert_eq!(requests[1].json()["type"], "Create");
    let store = Store::open(&data).unwrap();
    let rows = store.deliveries_of_activity(&create_id).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, masthead::store::DeliveryState::Done);
    // 1 or 2: the kill may fall before or after the failed attempt was written down.
    assert!(rows[0].attempts >= 1, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_a_second_server_on_the_same_data_dir() {
    let (dir, listener, _) = common::prepare("federated").await;
    drop(listener);
    let config = dir.path().join("site.toml");
    let data = dir.path().join("data");
    let first = serve(&config, &data);
    let second = Command::new(env!("CARGO_BIN_EXE_masthead"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    kill_9(first);
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another masthead serve is using"),
        "{stderr}"
    );
}

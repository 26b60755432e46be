//! The binary as a person runs it: `init` makes a site that `check` passes and `serve` runs,
//! `serve` on the demo site answers with logs in JSON when asked, and `status` words a queue of
//! known rows exactly.

mod common;

use std::path::Path;
use std::process::Command;

use hyper::{Method, StatusCode};
use masthead::catalog::Catalog;
use masthead::clock::now_ms;
use masthead::config::Site;
use masthead::store::{FollowState, Follower, NewDelivery, Store};
use masthead::urls::Urls;

fn masthead() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_masthead"));
    cmd.env_remove("RUST_LOG");
    cmd
}

#[test]
fn can_init_a_site_that_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("city-hall");
    let out = masthead().arg("init").arg(&site).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("site.toml"), "{stdout}");
    let check = masthead()
        .args(["check", "--config"])
        .arg(site.join("site.toml"))
        .output()
        .unwrap();
    let report = String::from_utf8(check.stdout).unwrap();
    assert!(check.status.success(), "{report}");
    assert!(
        report.ends_with("1 post ready; 0 errors, 1 warning\n"),
        "{report}"
    );

    let again = masthead().arg("init").arg(&site).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}

fn serve(config: &Path, data_dir: &Path) -> (std::process::Child, String) {
    common::spawn_serve(config, data_dir)
}

/// GET `path` on `addr`: the status and the body.
async fn get(addr: &str, path: &str, accept: &str) -> (StatusCode, String) {
    let got = common::fetch(&format!("http://{addr}{path}"), Method::GET, accept, &[]).await;
    (got.status, got.text())
}

#[tokio::test]
async fn can_serve_the_demo_site_with_json_logs() {
    let data = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("site.toml");
    let (mut child, addr) = serve(&config, data.path());
    let (status, body) = get(&addr, "/users/council", "application/activity+json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"preferredUsername\":\"council\""), "{body}");
    let (status, body) = get(&addr, "/@museum", "text/html").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Riverton Museum"));
    let (status, _) = get(
        &addr,
        "/users/museum/posts/nocturne",
        "application/activity+json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// 2026-11-21T09:00:00Z.
const PUBLISHED_MS: i64 = 1_795_251_600_000;

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn follower(actor: &str, inbox: &str, state: FollowState) -> Follower {
    let id = format!("{}reader", inbox.trim_end_matches("inbox"));
    Follower {
        actor: actor.into(),
        follower: id.clone(),
        follow_id: format!("{id}#follow"),
        inbox: inbox.into(),
        shared_inbox: None,
        state,
        created_at: String::new(),
        hold: None,
    }
}

#[tokio::test]
async fn can_show_each_actors_queue_and_last_publish_in_status() {
    let (dir, _listener, _) = common::prepare("federated").await;
    let config = dir.path().join("site.toml");
    let site = Site::load(&config).unwrap().site;
    let store = Store::open(&site.data_dir).unwrap();
    let urls = Urls::new(&site);
    Catalog::build(&site, &urls, &store, chrono::Utc::now()).unwrap();

    let empty = masthead()
        .arg("status")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(empty.stdout).unwrap(),
        "news: 0 followers\n  deliveries    none\n  last publish  none\n\n\
         desk: 0 followers\n  deliveries    none\n  last publish  none\n\n\
         held back: none\n"
    );

    // news published hello.md to five inboxes: one took it, one refused it for good, one is
    // waiting for a retry, one is being sent it, one is on a host skipped as unavailable.
    let inboxes: Vec<String> = ["done", "refused", "retry", "sending", "down"]
        .iter()
        .map(|h| format!("https://{h}.example/inbox"))
        .collect();
    for inbox in &inboxes {
        store
            .upsert_follower(&follower("news", inbox, FollowState::Accepted))
            .unwrap();
    }
    store
        .upsert_follower(&follower(
            "desk",
            "https://asks.example/inbox",
            FollowState::Pending,
        ))
        .unwrap();
    let post = urls.post("news", "hello");
    let activity = format!("{post}/activity");
    store
        .enqueue_delivery(
            &NewDelivery {
                activity_id: &activity,
                object_id: Some(&post),
                actor: "news",
                body: r#"{"type":"Create"}"#,
            },
            &inboxes,
            PUBLISHED_MS,
        )
        .unwrap();
    let rows = store.deliveries_of_activity(&activity).unwrap();
    let id = |host: &str| rows.iter().find(|r| r.host == host).unwrap().id;
    let now = now_ms();
    store
        .complete_delivery(id("done.example"), 202, PUBLISHED_MS)
        .unwrap();
    store
        .fail_delivery(id("refused.example"), Some(403), "403 Forbidden")
        .unwrap();
    let retry_at = now + 3_630_000;
    store
        .reschedule_delivery(id("retry.example"), retry_at, Some(503), "503")
        .unwrap();
    assert!(store
        .lease_delivery(id("sending.example"), now, now + 300_000)
        .unwrap());
    for day in 0..7 {
        store
            .record_delivery_failure("down.example", day * 86_400_000, 7)
            .unwrap();
    }

    let out = masthead()
        .arg("status")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = format!(
        "news: 5 followers
  deliveries    2 queued, 1 in flight, 1 failed, 1 delivered (last 7 days)
  next retry    {retry} (in 1h00m)
  unavailable   down.example (skipped until they answer again)
  last publish  Create of content/news/hello.md, queued 2026-11-21T09:00:00Z
                [############..................] 1 of 5 inboxes done, 1 failed, still sending

desk: 0 followers, 1 waiting for approval
  deliveries    none
  last publish  none

held back: none
",
        retry = utc(retry_at)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

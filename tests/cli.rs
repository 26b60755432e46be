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

#[test]
fn errors_with_every_problem_of_site_toml_whichever_command_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(&config, "[site]\nbase_url = 3\n").unwrap();
    let out_file = dir.path().join("backup.db");
    let commands: [&[&std::ffi::OsStr]; 4] = [
        &["serve".as_ref()],
        &["status".as_ref()],
        &[
            "people".as_ref(),
            "show".as_ref(),
            "@ann@r.example".as_ref(),
        ],
        &["backup".as_ref(), out_file.as_os_str()],
    ];
    for args in commands {
        let out = masthead()
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!(
                "error: {0} has 2 problems\n  \
                 - {0}:2: site.base_url must be a string, got integer `3` (write it in double quotes)\n  \
                 - {0}: no [[actor]] defined (add one: an [[actor]] section with handle = \"news\")\n",
                config.display()
            ),
            "{args:?}"
        );
    }
    assert!(!out_file.exists());
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

/// The file names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `masthead ARGS --config CONFIG --data-dir DATA`: whether it succeeded, stdout and stderr.
fn run_on(args: &[&Path], config: &Path, data: &Path) -> (bool, String, String) {
    let out = masthead()
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The `publicKeyPem` of `handle`'s actor document as the server at `addr` serves it.
async fn served_key(addr: &str, handle: &str) -> String {
    let (status, body) = get(addr, &format!("/users/{handle}"), common::AP).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actor: serde_json::Value = serde_json::from_str(&body).unwrap();
    actor["publicKey"]["publicKeyPem"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The followers of `handle`, as its collection's first page lists them.
async fn served_followers(addr: &str, handle: &str) -> Vec<String> {
    let (status, body) = get(
        addr,
        &format!("/users/{handle}/followers?page=1"),
        common::AP,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    page["orderedItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

fn kill_9(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_back_up_while_serving_and_restore_once_stopped() {
    let (dir, listener, _) = common::prepare("federated").await;
    drop(listener);
    let config = dir.path().join("site.toml");
    let data = dir.path().join("data");
    // A follower of news, and a Create queued for it (to a port nothing answers).
    let store = Store::open(&data).unwrap();
    let reader = follower("news", "http://127.0.0.1:9/inbox", FollowState::Accepted);
    store.upsert_follower(&reader).unwrap();
    let activity = "http://127.0.0.1:9/queued/activity";
    store
        .enqueue_delivery(
            &NewDelivery {
                activity_id: activity,
                object_id: None,
                actor: "news",
                body: r#"{"type":"Create"}"#,
            },
            &["http://127.0.0.1:9/inbox".to_string()],
            now_ms() + 3_600_000,
        )
        .unwrap();
    drop(store);

    let (child, addr) = serve(&config, &data);
    let key = served_key(&addr, "news").await;
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let out = backups.join("site.db");
    let (ok, stdout, stderr) = run_on(&[Path::new("backup"), &out], &config, &data);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with(&format!("backed up to {} at ", out.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(", 2 actors, 1 follower; written mode 0600"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    // The copy holds the key the server signs with, the follower and the queued delivery.
    let copy = rusqlite::Connection::open(&out).unwrap();
    let copied_key: String = copy
        .query_row(
            "SELECT public_pem FROM actor_keys WHERE handle = 'news'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(copied_key, key);
    let follower_rows: i64 = copy
        .query_row(
            "SELECT count(*) FROM followers WHERE follower = ?1",
            [&reader.follower],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(follower_rows, 1);
    let queued: i64 = copy
        .query_row(
            "SELECT count(*) FROM deliveries WHERE activity_id = ?1",
            [activity],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(queued, 1);
    drop(copy);

    // A second backup to the same file is refused and leaves it as it was.
    let first = std::fs::read(&out).unwrap();
    let (ok, _, stderr) = run_on(&[Path::new("backup"), &out], &config, &data);
    assert!(!ok);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), first);
    assert_eq!(names(&backups), ["site.db"]);

    // After the backup, a second follower arrives.
    let later = follower(
        "news",
        "http://127.0.0.1:9/later/inbox",
        FollowState::Accepted,
    );
    Store::open(&data).unwrap().upsert_follower(&later).unwrap();

    // No restore under a running server.
    let before = names(&data);
    let db_before = std::fs::read(data.join("masthead.db")).unwrap();
    let (ok, stdout, stderr) = run_on(&[Path::new("restore"), &out], &config, &data);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains(&format!(
            "masthead serve is running on {}: stop it first",
            data.display()
        )),
        "{stderr}"
    );
    assert_eq!(names(&data), before);
    assert_eq!(std::fs::read(data.join("masthead.db")).unwrap(), db_before);

    // Killed: its write-ahead log is left behind, with writes not yet in masthead.db.
    kill_9(child);
    // A comments file written after the backup, of a reply the backup does not hold.
    let comments = data.join("comments/news/hello.json");
    std::fs::create_dir_all(comments.parent().unwrap()).unwrap();
    std::fs::write(&comments, r#"[{"id":"http://127.0.0.1:9/notes/1"}]"#).unwrap();
    assert!(data.join("masthead.db-wal").exists());
    let (ok, stdout, stderr) = run_on(&[Path::new("restore"), &out], &config, &data);
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "");
    let aside_name = names(&data)
        .into_iter()
        .find(|n| n.starts_with("masthead.db.before-restore-"))
        .unwrap();
    let aside = data.join(&aside_name);
    assert!(
        stdout.starts_with(&format!("restored {} (", out.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "the database it replaced is kept as {}\nto undo: stop `masthead serve`, then run `masthead restore --config {} --data-dir {} {}`\n",
            aside.display(),
            config.display(),
            data.display(),
            aside.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("rewrote 1 comments file from it\nstart `masthead serve` to serve it\n"),
        "{stdout}"
    );
    let rewritten: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&comments).unwrap()).unwrap();
    assert!(rewritten.is_empty(), "{rewritten:?}");
    // No log is left that SQLite would replay onto the restored file.
    let dbs: Vec<String> = names(&data)
        .into_iter()
        .filter(|n| n.starts_with("masthead.db"))
        .collect();
    assert_eq!(dbs, ["masthead.db".to_string(), aside_name]);
    // The database set aside is whole: the log was folded in (the later follower is there).
    let kept = masthead::store::inspect_backup(&aside).unwrap();
    assert_eq!(kept.followers, 2);

    // The restored database serves the same key and the follower of the backup.
    let (child, addr) = serve(&config, &data);
    assert_eq!(served_key(&addr, "news").await, key);
    assert_eq!(served_followers(&addr, "news").await, vec![reader.follower]);
    kill_9(child);
}

#[test]
fn rejects_restoring_a_file_that_is_not_a_backup_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("site.toml");
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    store.actor_key("council").unwrap();
    drop(store);
    // A backup written by a newer masthead.
    let newer = dir.path().join("newer.db");
    let (ok, _, stderr) = run_on(&[Path::new("backup"), &newer], &config, &data);
    assert!(ok, "{stderr}");
    let known = masthead::store::schema_version();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", known + 1)
        .unwrap();
    // As a stopped `serve` leaves it.
    std::fs::write(data.join("serve.lock"), "").unwrap();
    let before = names(&data);
    let db_before = std::fs::read(data.join("masthead.db")).unwrap();
    let unchanged = || {
        assert_eq!(names(&data), before);
        assert_eq!(std::fs::read(data.join("masthead.db")).unwrap(), db_before);
    };

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "meeting notes, not a database\n".repeat(10)).unwrap();
    let (ok, _, stderr) = run_on(&[Path::new("restore"), &text], &config, &data);
    assert!(!ok);
    assert_eq!(
        stderr,
        format!(
            "error: {} is not an SQLite database (file is not a database); give a file that `masthead backup` wrote\n",
            text.display()
        )
    );
    unchanged();

    let (ok, _, stderr) = run_on(&[Path::new("restore"), &newer], &config, &data);
    assert!(!ok);
    assert_eq!(
        stderr,
        format!(
            "error: {} has schema version {}, newer than this masthead knows ({known}); upgrade masthead to restore it\n",
            newer.display(),
            known + 1
        )
    );
    unchanged();
}

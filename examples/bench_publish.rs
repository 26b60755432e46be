//! Publish latency, for `scripts/bench.sh publish-latency` (a benchmark, not a test): a post
//! saved into a served site's content folder (written beside it and renamed over, the way editors
//! save) until its `Create` is accepted by a follower's inbox on loopback, over N saves; prints one
//! JSON object with the percentiles. Everything a save costs is in the figure: the watcher's
//! debounce (`[site] watch_debounce_ms`, 200 ms unless `--debounce-ms` says otherwise), the
//! rebuild, queueing, signing and the HTTP delivery.
//!
//! `cargo run --release --example bench_publish -- [--saves N] [--debounce-ms MS]`

#[path = "../tests/common/inbox.rs"]
mod inbox;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use masthead::app::{self, App};
use masthead::config::Site;
use masthead::store::{FollowState, Follower, Store};

#[path = "common/bench.rs"]
mod bench;
use bench::{number, percentile, round};

fn post(i: u64) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("+++\ntitle = \"Bench {i}\"\ndate = {now}\n+++\n\nSaved for the latency benchmark, number {i}.\n")
}

/// Saves `text` as `path` the way vim and JetBrains do: beside it, then renamed over.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let saves = number("--saves", 100u64);
    let debounce = number("--debounce-ms", 200u64);
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        format!(
            "[site]\nbase_url = \"{base}\"\nwatch_debounce_ms = {debounce}\n\n[[actor]]\nhandle = \"news\"\nname = \"News\"\n\n[dev]\nallow_http = true\nallow_private_addresses = true\n"
        ),
    )
    .unwrap();
    save(&dir.path().join("content/news/first.md"), &post(0));
    let follower = inbox::FakeInbox::start(&[202]).await;
    let site = Site::load(&dir.path().join("site.toml")).unwrap().site;
    let store = Store::open(&site.data_dir).unwrap();
    store
        .upsert_follower(&Follower {
            actor: "news".into(),
            follower: "http://reader.example/users/reader".into(),
            follow_id: "http://reader.example/follows/1".into(),
            inbox: follower.url.clone(),
            shared_inbox: None,
            state: FollowState::Accepted,
            created_at: String::new(),
            hold: None,
        })
        .unwrap();
    let (app, _) = App::with_store(site, store).unwrap();
    let mut running = app::start(Arc::new(app), listener).unwrap();
    let mode = running.watch().unwrap();

    let mut latencies = Vec::new();
    for i in 1..=saves {
        let path = dir.path().join(format!("content/news/bench-{i}.md"));
        let text = post(i);
        let started = Instant::now();
        save(&path, &text);
        let arrived = follower
            .received_within(i as usize, Duration::from_secs(30))
            .await;
        assert!(arrived, "save {i}: no Create within 30 s");
        // Accepted: the inbox answered.
        while follower.answered() < i as usize {
            tokio::task::yield_now().await;
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let activities: Vec<String> = follower
        .requests()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        activities.iter().all(|t| t == "Create") && activities.len() == saves as usize,
        "one Create per save, got {activities:?}"
    );
    running.stop().await;
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "scenario": "publish-latency",
            "saves": saves,
            "debounce_ms": debounce,
            "watch_mode": format!("{mode:?}"),
            "p50_ms": round(percentile(&sorted, 50.0), 1),
            "p99_ms": round(percentile(&sorted, 99.0), 1),
            "min_ms": round(sorted[0], 1),
            "max_ms": round(sorted[sorted.len() - 1], 1),
            "mean_ms": round(mean, 1),
            "goal": "p50 < 300 ms",
        })
    );
}

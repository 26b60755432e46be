//! Resident memory, for `scripts/bench.sh memory` (a benchmark, not a test): `masthead serve` with
//! 10 actors, 10,000 posts and 10,000 followers, idle and during a fan-out, beside a Fedify server
//! (`tests/interop/fedify/peer.mjs`) holding the same 10,000 followers in its KV store and sending
//! the same posts to the same inboxes, in the same run.
//!
//! Three processes, so each one's figures are its own: this driver, the recording inboxes
//! (`bench_fanout inboxes`, which verify every signature) and the server under test. Memory is read
//! from `/proc/PID/status`: `VmRSS` (resident now: `RssAnon`, the heap and stacks, plus `RssFile`,
//! the pages of the binary and its libraries touched so far) and `VmHWM` (the most ever resident).
//!
//! The site: actors `a0`..`a9`, 1,000 posts each (about a kilobyte of Markdown, the shape of
//! `bench_catalog`'s), 1,000 followers each, seeded into the store with the store's own API
//! (as the inbox records an accepted Follow). Follower `i` follows `a{i % 10}` and lives on inbox
//! host `(i / 10) % hosts` with that host's shared inbox, so each actor's followers span every
//! host. masthead's figures:
//!
//! - `idle_cold`: the first `serve` of the site, after it rendered every post, settled;
//! - `idle`: `serve` again (every post from the render cache), settled: what a running site sits at;
//! - `fanout`: one new post by each actor saved at once, until every host's inbox verified each
//!   actor's Create (`hosts` x 10 deliveries): the most resident while it ran, `VmHWM`, and
//!   resident once it settled.
//!
//! Fedify (same inboxes, same latency): idle with the 10,000 followers seeded, then 10 Creates
//! sent to its followers (shared inboxes preferred), the same `hosts` x 10 deliveries.
//!
//! ```text
//! bench_mem [--posts 10000] [--followers 10000] [--hosts 500] [--latency-ms 200] [--fedify]
//!           [--settle-ms 3000]
//! bench_mem --prepare DIR [--port 8080]    (only writes the site, to profile `serve` by hand)
//! ```
//!
//! Prints one JSON object on stdout (progress on stderr).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use masthead::store::{FollowState, Follower, Store};
use serde_json::{json, Value};

#[path = "common/bench.rs"]
mod bench;
use bench::{arg, notice, number, round};
#[path = "common/servers.rs"]
mod servers;
use servers::{
    free_port, http_exchange, proc_status, spawn_masthead, status_kib, stop, Fedify, Inboxes,
};

const ACTORS: usize = 10;
/// `serve`'s log level: errors only, so logging costs no memory worth counting.
const LOG: &str = "masthead=error";

/// A post of about a kilobyte (as in `bench_catalog`).
fn post(actor: usize, i: usize, date: &str) -> String {
    let title = format!("Notice {i} of desk {actor}");
    notice(i, 1 + i % 12, &title, date, &format!("desk {actor}"))
}

// ---- /proc -----------------------------------------------------------------------------------

/// `VmRSS`, `VmHWM`, `RssAnon` and `RssFile` of `pid`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    rss: u64,
    hwm: u64,
    anon: u64,
    file: u64,
}

fn mem(pid: u32) -> Option<Mem> {
    let status = proc_status(pid)?;
    let field = |name: &str| status_kib(&status, name);
    Some(Mem {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")?,
    })
}

fn mib(kib: u64) -> f64 {
    round(kib as f64 / 1024.0, 1)
}

/// Waits `settle`, then the median of five readings 100 ms apart, as JSON in MiB.
fn settled(pid: u32, settle: Duration) -> Value {
    std::thread::sleep(settle);
    let mut readings: Vec<Mem> = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            mem(pid).expect("the server is running")
        })
        .collect();
    readings.sort_by_key(|m| m.rss);
    let m = readings[2];
    json!({"rss_mib": mib(m.rss), "anon_mib": mib(m.anon), "file_mib": mib(m.file), "hwm_mib": mib(m.hwm)})
}

// ---- the inboxes (bench_fanout's) ------------------------------------------------------------

/// Samples `pid`'s resident memory every 20 ms until `done` (or `limit`); the most seen, in KiB,
/// and how long it took.
fn sample_until(pid: u32, limit: Duration, mut done: impl FnMut() -> bool) -> (u64, f64, bool) {
    let started = Instant::now();
    let mut peak = 0;
    loop {
        if let Some(m) = mem(pid) {
            peak = peak.max(m.rss);
        }
        if done() {
            return (peak, started.elapsed().as_secs_f64(), true);
        }
        if started.elapsed() > limit {
            return (peak, started.elapsed().as_secs_f64(), false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn delivered(inboxes: &Inboxes, n: u64) -> impl FnMut() -> bool + '_ {
    move || {
        let stats = inboxes.stats();
        stats["verified"].as_u64().unwrap_or(0) + stats["refused"].as_u64().unwrap_or(0) >= n
    }
}

// ---- masthead ----------------------------------------------------------------------------------

/// The site: `ACTORS` actors with `posts / ACTORS` posts each, and the followers in its store.
fn masthead_site(dir: &Path, port: u16, posts: usize, followers: usize, inboxes: &Inboxes) {
    let mut toml = format!("[site]\nbase_url = \"http://127.0.0.1:{port}\"\n\n");
    for a in 0..ACTORS {
        toml.push_str(&format!(
            "[[actor]]\nhandle = \"a{a}\"\nname = \"Desk {a}\"\n\n"
        ));
    }
    toml.push_str("[dev]\nallow_http = true\nallow_private_addresses = true\n\n");
    toml.push_str(&plugins_toml());
    std::fs::write(dir.join("site.toml"), toml).unwrap();
    for i in 0..posts {
        let a = i % ACTORS;
        let folder = dir.join(format!("content/a{a}/{}", 2000 + i / 1000));
        std::fs::create_dir_all(&folder).unwrap();
        let day = 1 + i % 28;
        let date = format!("2025-{:02}-{day:02}T09:00:00Z", 1 + i % 12);
        std::fs::write(folder.join(format!("notice-{i}.md")), post(a, i, &date)).unwrap();
    }
    let site = masthead::config::Site::load(&dir.join("site.toml"))
        .unwrap()
        .site;
    let store = Store::open(&site.data_dir).unwrap();
    let hosts = inboxes.ports.len();
    for i in 0..followers {
        let shared = inboxes.url((i / ACTORS) % hosts);
        let actor = format!(
            "http://127.0.0.1:{}/users/reader{i}",
            inboxes.ports[(i / ACTORS) % hosts]
        );
        store
            .upsert_follower(&Follower {
                actor: format!("a{}", i % ACTORS),
                follower: actor.clone(),
                follow_id: format!("{actor}#follow"),
                inbox: format!("{actor}/inbox"),
                shared_inbox: Some(shared),
                state: FollowState::Accepted,
                created_at: "2025-01-01T00:00:00Z".into(),
                hold: None,
            })
            .unwrap();
    }
}

/// The demo site's two Rust plugins (site.toml), for every actor, by their source folders in
/// this repository: `serve` builds them when missing or stale (`scripts/bench-mem.sh` builds them
/// first, so no cargo run falls in a measured serve).
const PLUGINS: &str = "keyword-filter (spam-words), auto-reply (faq)";

fn plugins_toml() -> String {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    format!(
        "[[plugin]]\nname = \"spam-words\"\npath = {:?}\n[plugin.config]\n\
         words = [\"casino\", \"crypto giveaway\"]\naction = \"hold\"\n\n\
         [[plugin]]\nname = \"faq\"\npath = {:?}\ngrants = [\"reply\"]\n\
         [[plugin.config.rules]]\nkeywords = [\"opening hours\", \"horaires\"]\n\
         reply = \"The town hall is open 8:30-17:00, Monday to Friday.\"\n",
        plugins.join("keyword-filter"),
        plugins.join("auto-reply"),
    )
}

/// Waits until `serve` answers (it listens once the catalog is built); seconds from spawn.
fn wait_ready(port: u16, child: &mut Child) -> f64 {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("masthead serve exited early: {status}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let (status, _) = http_exchange("GET", port, "/.well-known/nodeinfo", "");
            if status == 200 {
                return started.elapsed().as_secs_f64();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "masthead serve did not answer in 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_masthead(
    inboxes: &Inboxes,
    posts: usize,
    followers: usize,
    hosts: u64,
    settle: Duration,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    masthead_site(dir.path(), port, posts, followers, inboxes);

    // First serve: every post rendered (an actor's first scan pushes nothing).
    let config = dir.path().join("site.toml");
    let mut child = spawn_masthead(&config, port, LOG);
    let cold_s = wait_ready(port, &mut child);
    let idle_cold = settled(child.id(), settle);
    eprintln!("masthead idle after a cold start ({cold_s:.2} s): {idle_cold}");
    stop(child);

    // Serve again: the running state of a published site.
    let mut child = spawn_masthead(&config, port, LOG);
    let warm_s = wait_ready(port, &mut child);
    let idle = settled(child.id(), settle);
    eprintln!("masthead idle after a restart ({warm_s:.2} s): {idle}");

    // One new post per actor, saved at once: each goes to every host's shared inbox.
    inboxes.reset();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for a in 0..ACTORS {
        let path = dir.path().join(format!("content/a{a}/fanout.md"));
        std::fs::write(&path, post(a, posts + a, &now)).unwrap();
    }
    let expected = hosts * ACTORS as u64;
    let sampled = sample_until(
        child.id(),
        Duration::from_secs(300),
        delivered(inboxes, expected),
    );
    let fanout = fanout_figures("masthead", child.id(), inboxes, expected, sampled, settle);
    stop(child);
    json!({
        "ready_s_cold": round(cold_s, 2),
        "ready_s": round(warm_s, 2),
        "idle_cold": idle_cold,
        "idle": idle,
        "fanout": fanout,
    })
}

/// A fan-out's figures, once `expected` deliveries were seen (`complete`, or not) in `secs`
/// while `pid` was at most `peak` KiB resident: also the most ever resident, and resident once
/// settled.
fn fanout_figures(
    server: &str,
    pid: u32,
    inboxes: &Inboxes,
    expected: u64,
    (peak, secs, complete): (u64, f64, bool),
    settle: Duration,
) -> Value {
    let hwm = mem(pid).map(|m| mib(m.hwm));
    let after = settled(pid, settle);
    let stats = inboxes.stats();
    eprintln!(
        "{server} fan-out of {expected} deliveries in {secs:.2} s: peak {} MiB, after {after}",
        mib(peak)
    );
    json!({
        "deliveries": expected,
        "verified": stats["verified"],
        "refused": stats["refused"],
        "complete": complete,
        "seconds": round(secs, 2),
        "peak_rss_mib": mib(peak),
        "hwm_mib": hwm,
        "after": after,
    })
}

// ---- Fedify ------------------------------------------------------------------------------------

fn run_fedify(inboxes: &Inboxes, followers: usize, hosts: u64, settle: Duration) -> Value {
    let fedify = Fedify::start().unwrap_or_else(|e| panic!("{e}"));
    let pid = fedify.child.id();
    let empty = settled(pid, settle);
    // The same followers: follower i on host (i / 10) % hosts, with that host's shared inbox.
    let shared: Vec<String> = (0..hosts as usize).map(|h| inboxes.url(h)).collect();
    let seeded = fedify.control(
        "/control/seed-followers",
        &json!({"sharedInboxes": shared, "count": followers, "spread": ACTORS}),
    );
    let idle = settled(pid, settle);
    eprintln!("fedify idle: empty {empty}, with {seeded}: {idle}");
    inboxes.reset();
    let started = Instant::now();
    let expected = hosts * ACTORS as u64;
    // The ten Creates at once, as masthead's ten saves: each control call returns once its
    // deliveries are done (the peer has no queue), the inboxes count them as they arrive.
    let (peak, complete) = std::thread::scope(|s| {
        for a in 0..ACTORS {
            let fedify = &fedify;
            s.spawn(move || {
                fedify.control(
                    "/control/fanout",
                    &json!({"toFollowers": true, "content": format!("<p>One post of desk {a} to every follower.</p>")}),
                )
            });
        }
        let (peak, _, complete) =
            sample_until(pid, Duration::from_secs(300), delivered(inboxes, expected));
        (peak, complete)
    });
    let secs = started.elapsed().as_secs_f64();
    let fanout = fanout_figures(
        "fedify",
        pid,
        inboxes,
        expected,
        (peak, secs, complete),
        settle,
    );
    json!({
        "idle_empty": empty,
        "idle": idle,
        "fanout": fanout,
    })
}

fn main() {
    let posts = number("--posts", 10_000usize);
    let followers = number("--followers", 10_000usize);
    let hosts = number("--hosts", 500u64);
    let latency_ms = number("--latency-ms", 200u64);
    let settle = Duration::from_millis(number("--settle-ms", 3000));
    let with_fedify = std::env::args().any(|a| a == "--fedify");
    assert!(
        followers as u64 >= hosts * ACTORS as u64,
        "--followers must be at least --hosts x {ACTORS}, so every actor has a follower on every host"
    );

    let fanout = std::env::current_exe()
        .unwrap()
        .with_file_name("bench_fanout");
    let inboxes = Inboxes::start(&fanout, hosts as usize, latency_ms);
    if let Some(dir) = arg("--prepare") {
        // Only the site, to profile `masthead serve` over it by hand.
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        masthead_site(&dir, number("--port", 8080u16), posts, followers, &inboxes);
        eprintln!(
            "site written: masthead serve --config {}/site.toml",
            dir.display()
        );
        return;
    }
    let m = run_masthead(&inboxes, posts, followers, hosts, settle);
    let mut out = json!({
        "scenario": "memory",
        "actors": ACTORS,
        "posts": posts,
        "followers": followers,
        "hosts": hosts,
        "latency_ms": latency_ms,
        "plugins": PLUGINS,
        "masthead": m,
        "goal": "idle < 30 MB",
    });
    if with_fedify {
        let f = run_fedify(&inboxes, followers, hosts, settle);
        let ratio = |a: &Value, b: &Value| round(a.as_f64().unwrap() / b.as_f64().unwrap(), 2);
        out["idle_of_fedify"] = json!(ratio(
            &out["masthead"]["idle"]["rss_mib"],
            &f["idle"]["rss_mib"]
        ));
        out["fanout_peak_of_fedify"] = json!(ratio(
            &out["masthead"]["fanout"]["peak_rss_mib"],
            &f["fanout"]["peak_rss_mib"]
        ));
        out["fedify"] = f;
    }
    println!("{out}");
}

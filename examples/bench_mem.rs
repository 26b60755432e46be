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

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use masthead::store::{FollowState, Follower, Store};
use serde_json::{json, Value};

const ACTORS: usize = 10;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn number(name: &str, default: u64) -> u64 {
    arg(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} takes a number, got {v}"))
    })
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// A post of about a kilobyte, the shape a brand's news post has (as in `bench_catalog`).
fn post(actor: usize, i: usize, date: &str) -> String {
    let day = 1 + i % 28;
    format!(
        "+++\ntitle = \"Notice {i} of desk {actor}\"\ndate = {date}\ntags = [\"council\", \"notice\"]\n+++\n\n\
         The council met on the {day}th and decided item {i} (desk {actor}). The budget for the \
         harbour, the library and the parks is published in full on [our site](https://www.city.example/notices/{i}). \
         Residents may comment until the end of the month.\n\n\
         - What: item {i}\n- Where: the town hall, room {}\n- Who: the council and #residents\n\n\
         Questions go to the front desk, open every weekday from nine to five. Bring your card; \
         the desk answers in English, French and Portuguese. Thank you for reading, and see you at \
         the next meeting, where the council will hear what residents made of it.\n",
        1 + i % 12,
    )
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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
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

struct Inboxes {
    child: Child,
    ports: Vec<u16>,
    control: u16,
}

impl Inboxes {
    fn start(hosts: u64, latency_ms: u64) -> Inboxes {
        let exe = std::env::current_exe().unwrap();
        let fanout = exe.parent().unwrap().join("bench_fanout");
        let mut child = Command::new(&fanout)
            .args([
                "inboxes",
                "--hosts",
                &hosts.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (cargo build --example bench_fanout)",
                    fanout.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).expect("the inboxes print their ports");
        Inboxes {
            child,
            ports: serde_json::from_value(ready["ports"].clone()).unwrap(),
            control: ready["control"].as_u64().unwrap() as u16,
        }
    }

    fn url(&self, host: usize) -> String {
        format!("http://127.0.0.1:{}/inbox", self.ports[host])
    }

    fn reset(&self) {
        http_text("POST", self.control, "/reset", "");
    }

    fn stats(&self) -> Value {
        serde_json::from_str(&http_text("GET", self.control, "/stats", "")).unwrap()
    }
}

impl Drop for Inboxes {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.1 exchange with 127.0.0.1:`port`; the status and the (de-chunked) body.
fn http_exchange(method: &str, port: u16, path: &str, body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, body.to_string());
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    (status, out)
}

fn http_text(method: &str, port: u16, path: &str, body: &str) -> String {
    http_exchange(method, port, path, body).1
}

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
    toml.push_str("[dev]\nallow_http = true\nallow_private_addresses = true\n");
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

fn spawn_masthead(dir: &Path, port: u16) -> Child {
    // BENCH_MASTHEAD runs another build (an older commit's, to compare).
    let masthead = std::env::var_os("BENCH_MASTHEAD").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("masthead")
        },
        PathBuf::from,
    );
    Command::new(masthead)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(dir.join("site.toml"))
        .env("RUST_LOG", "masthead=error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("target/<profile>/masthead is built (cargo build --bin masthead)")
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

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let mut child = spawn_masthead(dir.path(), port);
    let cold_s = wait_ready(port, &mut child);
    let idle_cold = settled(child.id(), settle);
    eprintln!("masthead idle after a cold start ({cold_s:.2} s): {idle_cold}");
    stop(child);

    // Serve again: the running state of a published site.
    let mut child = spawn_masthead(dir.path(), port);
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
    let (peak, secs, complete) = sample_until(
        child.id(),
        Duration::from_secs(300),
        delivered(inboxes, expected),
    );
    let during_hwm = mem(child.id()).map(|m| mib(m.hwm));
    let after = settled(child.id(), settle);
    let stats = inboxes.stats();
    eprintln!(
        "masthead fan-out of {expected} deliveries in {secs:.2} s: peak {} MiB, after {after}",
        mib(peak)
    );
    stop(child);
    json!({
        "ready_s_cold": round(cold_s, 2),
        "ready_s": round(warm_s, 2),
        "idle_cold": idle_cold,
        "idle": idle,
        "fanout": {
            "deliveries": expected,
            "verified": stats["verified"],
            "refused": stats["refused"],
            "complete": complete,
            "seconds": round(secs, 2),
            "peak_rss_mib": mib(peak),
            "hwm_mib": during_hwm,
            "after": after,
        },
    })
}

// ---- Fedify ------------------------------------------------------------------------------------

struct Fedify {
    child: Child,
    port: u16,
}

impl Fedify {
    fn start() -> Fedify {
        let dir = std::env::var("MASTHEAD_INTEROP_DIR").unwrap_or_else(|_| "tests/interop".into());
        let node = std::env::var("MASTHEAD_NODE").unwrap_or_else(|_| "node".into());
        let mut child = Command::new(&node)
            .arg(Path::new(&dir).join("fedify/peer.mjs"))
            .args(["--sig", "cavage", "--exit-on-stdin-close"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{node}: {e} (set MASTHEAD_NODE and MASTHEAD_INTEROP_DIR)"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).expect("the Fedify peer prints its url");
        let port = url::Url::parse(ready["url"].as_str().unwrap())
            .unwrap()
            .port()
            .unwrap();
        Fedify { child, port }
    }

    fn control(&self, path: &str, body: &Value) -> Value {
        let (status, text) = http_exchange("POST", self.port, path, &body.to_string());
        assert_eq!(status, 200, "Fedify peer {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Fedify {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn run_fedify(inboxes: &Inboxes, followers: usize, hosts: u64, settle: Duration) -> Value {
    let fedify = Fedify::start();
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
    let hwm = mem(pid).map(|m| mib(m.hwm));
    let after = settled(pid, settle);
    let stats = inboxes.stats();
    eprintln!(
        "fedify fan-out of {expected} deliveries in {secs:.2} s: peak {} MiB, after {after}",
        mib(peak)
    );
    json!({
        "idle_empty": empty,
        "idle": idle,
        "fanout": {
            "deliveries": expected,
            "verified": stats["verified"],
            "refused": stats["refused"],
            "complete": complete,
            "seconds": round(secs, 2),
            "peak_rss_mib": mib(peak),
            "hwm_mib": hwm,
            "after": after,
        },
    })
}

fn main() {
    let posts = number("--posts", 10_000) as usize;
    let followers = number("--followers", 10_000) as usize;
    let hosts = number("--hosts", 500);
    let latency_ms = number("--latency-ms", 200);
    let settle = Duration::from_millis(number("--settle-ms", 3000));
    let with_fedify = std::env::args().any(|a| a == "--fedify");
    assert!(
        followers as u64 >= hosts * ACTORS as u64,
        "--followers must be at least --hosts x {ACTORS}, so every actor has a follower on every host"
    );

    let inboxes = Inboxes::start(hosts, latency_ms);
    if let Some(dir) = arg("--prepare") {
        // Only the site, to profile `masthead serve` over it by hand.
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        masthead_site(
            &dir,
            number("--port", 8080) as u16,
            posts,
            followers,
            &inboxes,
        );
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
        "plugins": "none (no Rust plugin host on this build)",
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

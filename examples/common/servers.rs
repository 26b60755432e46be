//! The processes the fan-out and memory benchmarks drive, and how the driver talks to them:
//! `masthead serve` (this build's, or `BENCH_MASTHEAD`'s), the recording inboxes (`bench_fanout
//! inboxes`), the Fedify peer of tests/interop, a bare HTTP/1.1 client for their control ports,
//! and `/proc/PID/status`. Each example is its own program, so each includes this file as a
//! module (`#[path = "common/servers.rs"] mod servers;`); no example uses all of it.
//!
//! It does not measure anything: what is timed and how stays with each benchmark.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A bare HTTP/1.1 exchange with 127.0.0.1:`port`; the status and the (de-chunked) body.
pub fn http_exchange(method: &str, port: u16, path: &str, body: &str) -> (u16, String) {
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

/// The body of [`http_exchange`].
pub fn http_text(method: &str, port: u16, path: &str, body: &str) -> String {
    http_exchange(method, port, path, body).1
}

/// A port on 127.0.0.1 free when asked (a site's `base_url` names it before `serve` binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `masthead serve` for the site at `config` on 127.0.0.1:`port`, with `RUST_LOG=log`.
pub fn spawn_masthead(config: &Path, port: u16, log: &str) -> Child {
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
        .arg(config)
        .env("RUST_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("target/<profile>/masthead is built (cargo build --bin masthead)")
}

/// Stops `child` with SIGTERM, a clean stop (so the next case starts from nothing in flight),
/// and waits for it.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// `/proc/PID/status` of `pid`, while it runs.
pub fn proc_status(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

/// The KiB of `field` (`"VmRSS:"`, `"VmHWM:"`, ...) in a `/proc/PID/status` text.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Reads the first line a child process prints on stdout: the JSON it announces itself with.
fn ready_line(child: &mut Child) -> std::io::Result<String> {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    Ok(line)
}

/// The recording inboxes (`bench_fanout inboxes`, in their own process): `hosts` inboxes on
/// 127.0.0.1, each its own port, and a control port (`GET /stats`, `POST /reset`). They stop when
/// this is dropped (their stdin closes).
pub struct Inboxes {
    pub child: Child,
    pub ports: Vec<u16>,
    pub control: u16,
}

impl Inboxes {
    /// Starts `program inboxes --hosts N --latency-ms MS` (`program` is `bench_fanout`).
    pub fn start(program: &Path, hosts: usize, latency_ms: u64) -> Inboxes {
        let mut child = Command::new(program)
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
                    program.display()
                )
            });
        let line = ready_line(&mut child).unwrap();
        let ready: Value = serde_json::from_str(&line).expect("the inboxes print their ports");
        Inboxes {
            child,
            ports: serde_json::from_value(ready["ports"].clone()).unwrap(),
            control: ready["control"].as_u64().unwrap() as u16,
        }
    }

    /// The inbox URL of host number `host`.
    pub fn url(&self, host: usize) -> String {
        format!("http://127.0.0.1:{}/inbox", self.ports[host])
    }

    /// Every host's inbox URL.
    pub fn urls(&self) -> Vec<String> {
        (0..self.ports.len()).map(|h| self.url(h)).collect()
    }

    /// What they counted: `verified`, `refused`, `first_ms`, `last_ms`, `errors`.
    pub fn stats(&self) -> Value {
        serde_json::from_str(&http_text("GET", self.control, "/stats", "")).unwrap()
    }

    /// Counts from zero again.
    pub fn reset(&self) {
        http_text("POST", self.control, "/reset", "");
    }

    /// Waits until `n` POSTs verified (or `limit` passed); returns the last stats.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let stats = self.stats();
            let seen = stats["verified"].as_u64().unwrap() + stats["refused"].as_u64().unwrap();
            if seen as usize >= n || Instant::now() > deadline {
                return stats;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Inboxes {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The Fedify peer (`tests/interop/fedify/peer.mjs` under `MASTHEAD_NODE`, from
/// `MASTHEAD_INTEROP_DIR`), signing with draft-cavage; it stops when this is dropped.
pub struct Fedify {
    pub child: Child,
    pub port: u16,
}

impl Fedify {
    /// Starts the peer and reads the `{"ready":true,"url":...}` of its first line; why not, if it
    /// could not.
    pub fn start() -> Result<Fedify, String> {
        let dir = std::env::var("MASTHEAD_INTEROP_DIR").unwrap_or_else(|_| "tests/interop".into());
        let node = std::env::var("MASTHEAD_NODE").unwrap_or_else(|_| "node".into());
        let mut child = Command::new(&node)
            .arg(Path::new(&dir).join("fedify/peer.mjs"))
            .args(["--sig", "cavage", "--exit-on-stdin-close"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{node}: {e} (set MASTHEAD_NODE and MASTHEAD_INTEROP_DIR)"))?;
        let line = ready_line(&mut child).map_err(|e| format!("the Fedify peer: {e}"))?;
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|ready| url::Url::parse(ready["url"].as_str()?).ok()?.port())
            .ok_or_else(|| format!("the Fedify peer prints its url, not {line:?}"))?;
        Ok(Fedify { child, port })
    }

    /// POSTs `body` to the control `path`; its JSON answer (panics unless 200).
    pub fn control(&self, path: &str, body: &Value) -> Value {
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

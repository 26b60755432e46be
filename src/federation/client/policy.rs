//! Which URLs and addresses an outgoing request may reach: http(s) only (plain http only when
//! configured), and never a loopback, private, link-local or other special-use address unless
//! `[dev] allow_private_addresses` is set. The table of special-use ranges lives here.
//!
//! It does not resolve names or connect: the client asks it about a URL before every hop
//! ([`AddressPolicy::check_url`]) and about every address a name resolves to, or a kept-alive
//! connection is open to, before using it ([`AddressPolicy::check_addr`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use super::FetchError;

/// Which URLs and addresses outgoing requests may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Allow every address, special-use ones included. The `[dev] allow_private_addresses`
    /// option: for local testing only, never on a server reachable by others.
    pub allow_private_addresses: bool,
    /// Allow plain `http://` URLs (only `https://` otherwise).
    pub allow_http: bool,
    /// Exact socket addresses (address and port) allowed even though they are special-use. Not a
    /// site option: it lets a test run a fake remote on loopback while the policy stays on for
    /// every other address and port, so the refusal paths can be exercised end to end.
    pub exempt: Vec<SocketAddr>,
}

impl AddressPolicy {
    /// Checks what can be checked from the URL alone: the scheme, that there is a host, and the
    /// address when the host is a literal IP.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(FetchError::InsecureScheme { url: url.clone() }),
            other => {
                return Err(FetchError::BadUrl {
                    url: url.to_string(),
                    reason: format!("scheme {other:?} is not http or https"),
                })
            }
        }
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            None => Err(FetchError::BadUrl {
                url: url.to_string(),
                reason: "no host".into(),
            }),
            Some(Host::Domain(_)) => Ok(()),
            Some(Host::Ipv4(ip)) => self.check_addr(url, SocketAddr::new(ip.into(), port)),
            Some(Host::Ipv6(ip)) => self.check_addr(url, SocketAddr::new(ip.into(), port)),
        }
    }

    /// Checks one address `url` would be fetched from (a literal host or a resolved one).
    pub fn check_addr(&self, url: &Url, addr: SocketAddr) -> Result<(), FetchError> {
        if self.allow_private_addresses || self.exempt.contains(&addr) {
            return Ok(());
        }
        match special_use(addr.ip()) {
            None => Ok(()),
            Some(reason) => Err(FetchError::Refused {
                url: url.clone(),
                ip: addr.ip(),
                reason,
            }),
        }
    }
}

/// Whether `ip` is an ordinary, globally reachable unicast address that a remote server may have.
pub fn is_public(ip: IpAddr) -> bool {
    special_use(ip).is_none()
}

/// Names the special-use range `ip` falls in, or `None` for a public address. The ranges are the
/// IANA special-purpose registries (RFC 6890 and successors) minus those marked globally
/// reachable, plus multicast and everything IPv6 outside global unicast.
fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_use_v4(v4),
        IpAddr::V6(v6) => special_use_v6(v6),
    }
}

fn special_use_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" address (0.0.0.0/8)",
        (10, _, _) => "private address (10.0.0.0/8)",
        (100, 64..=127, _) => "shared carrier-grade NAT address (100.64.0.0/10)",
        (127, _, _) => "loopback address",
        (169, 254, _) => "link-local address",
        (172, 16..=31, _) => "private address (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation address",
        (192, 88, 99) => "6to4 relay anycast address (192.88.99.0/24)",
        (192, 168, _) => "private address (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking address (198.18.0.0/15)",
        (224..=239, _, _) => "multicast address",
        _ if ip == Ipv4Addr::BROADCAST => "broadcast address",
        (240..=255, _, _) => "reserved address (240.0.0.0/4)",
        _ => return None,
    })
}

fn special_use_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Addresses that carry an IPv4 address are judged by it: ::ffff:127.0.0.1 reaches loopback.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_use_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix: the gateway connects to the embedded address.
        return special_use_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4: the relay forwards to the embedded address.
        return special_use_v4(embedded_v4(s[1], s[2]));
    }
    Some(match s {
        _ if ip.is_unspecified() => "unspecified address",
        _ if ip.is_loopback() => "loopback address",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible address (deprecated, ::/96)",
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 address (64:ff9b:1::/48)",
        [0x100, 0, 0, 0, ..] => "discard-only address (100::/64)",
        [0x2001, 0, ..] => "Teredo address (2001::/32)",
        [0x2001, 0..=0x1ff, ..] => "IETF protocol assignment (2001::/23)",
        [0x2001, 0xdb8, ..] => "documentation address",
        [0x3fff, 0..=0x0fff, ..] => "documentation address",
        [0xfc00..=0xfdff, ..] => "unique local address (fc00::/7)",
        [0xfe80..=0xfebf, ..] => "link-local address",
        [0xfec0..=0xfeff, ..] => "site-local address (deprecated, fec0::/10)",
        [0xff00..=0xffff, ..] => "multicast address",
        // Only 2000::/3 is allocated for global unicast; everything else is reserved.
        [0x2000..=0x3fff, ..] => return None,
        _ => "reserved address (outside 2000::/3)",
    })
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- the address table ----

    #[test]
    fn rejects_every_special_use_address() {
        let table = [
            ("0.0.0.0", "this network"),
            ("0.255.255.255", "this network"),
            ("10.0.0.0", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.0", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.0.0", "link-local"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.0", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.0", "IETF protocol assignment"),
            ("192.0.0.255", "IETF protocol assignment"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.0.1", "private"),
            ("192.168.255.255", "private"),
            ("198.18.0.0", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a00:1", "private"),
            ("64:ff9b::c0a8:101", "private"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::", "discard-only"),
            ("100::ffff:ffff:ffff:ffff", "discard-only"),
            ("2001::1", "Teredo"),
            ("2001:0:ffff:ffff::", "Teredo"),
            ("2001:1::1", "IETF protocol assignment"),
            ("2001:1ff:ffff::", "IETF protocol assignment"),
            ("2001:db8::1", "documentation"),
            ("2001:db8:ffff:ffff::", "documentation"),
            ("3fff::1", "documentation"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:a00:1::", "private"),
            ("2002:c0a8:101::1", "private"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local"),
            ("ff00::", "multicast"),
            ("ff02::1", "multicast"),
            ("1::", "reserved"),
            ("4000::1", "reserved"),
        ];
        for (ip, expected) in table {
            let ip: IpAddr = ip.parse().unwrap();
            let reason = special_use(ip);
            assert!(
                reason.is_some_and(|r| r.contains(expected)),
                "{ip}: expected a {expected:?} refusal, got {reason:?}"
            );
            assert!(!is_public(ip), "{ip}");
        }
    }

    #[test]
    fn can_accept_public_addresses_including_range_neighbours() {
        let table = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:200::1",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "3ffe::1",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
        ];
        for ip in table {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(is_public(parsed), "{ip}: {:?}", special_use(parsed));
        }
    }

    // ---- the policy, without a network ----

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn rejects_loopback_with_a_message_that_says_what_to_do() {
        let err = AddressPolicy::default()
            .check_addr(&url("https://x/"), "127.0.0.1:443".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to connect to 127.0.0.1 for https://x/: loopback address \
             (set [dev] allow_private_addresses = true only for local testing)"
        );
    }

    #[test]
    fn rejects_literal_special_use_hosts_from_the_url_alone() {
        let policy = AddressPolicy::default();
        for u in [
            "https://10.0.0.1/inbox",
            "https://[::1]/",
            "https://[::ffff:192.168.1.1]/",
            "https://0x7f.1/",
        ] {
            let err = policy.check_url(&url(u)).unwrap_err();
            assert!(matches!(err, FetchError::Refused { .. }), "{u}: {err}");
        }
        policy
            .check_url(&url("https://1.1.1.1/"))
            .expect("a public literal is fine");
        policy
            .check_url(&url("https://example.com/"))
            .expect("names are checked once resolved");
    }

    #[test]
    fn rejects_plain_http_unless_allowed() {
        let mut policy = AddressPolicy::default();
        let err = policy.check_url(&url("http://example.com/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to fetch http://example.com/: plain http is not allowed \
             (only https, unless allow_http is configured)"
        );
        policy.allow_http = true;
        policy.check_url(&url("http://example.com/")).unwrap();
    }

    #[test]
    fn rejects_schemes_other_than_http_and_https() {
        let policy = AddressPolicy {
            allow_http: true,
            ..AddressPolicy::default()
        };
        for u in ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"] {
            let err = policy.check_url(&url(u)).unwrap_err();
            assert!(matches!(err, FetchError::BadUrl { .. }), "{u}: {err}");
        }
    }

    #[test]
    fn can_allow_every_address_with_allow_private_addresses() {
        let policy = AddressPolicy {
            allow_private_addresses: true,
            ..AddressPolicy::default()
        };
        for addr in [
            "127.0.0.1:80",
            "10.0.0.1:443",
            "[::1]:8080",
            "[fe80::1]:443",
        ] {
            policy
                .check_addr(&url("https://x/"), addr.parse().unwrap())
                .unwrap();
        }
    }

    #[test]
    fn can_exempt_one_exact_socket_address_and_nothing_else() {
        let policy = AddressPolicy {
            exempt: vec!["127.0.0.1:8080".parse().unwrap()],
            ..AddressPolicy::default()
        };
        let u = url("https://x/");
        policy
            .check_addr(&u, "127.0.0.1:8080".parse().unwrap())
            .unwrap();
        for other in ["127.0.0.1:8081", "127.0.0.2:8080", "[::1]:8080"] {
            assert!(
                policy.check_addr(&u, other.parse().unwrap()).is_err(),
                "{other}"
            );
        }
    }
}

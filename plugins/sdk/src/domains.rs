//! Domains, the unit most fediverse moderation works in: the host of a link or an actor id, and
//! a set of domains that also covers their subdomains (blocking `spam.example` blocks
//! `eu.spam.example`, as Mastodon's and Pleroma's domain blocks do).

/// The host of an `http` or `https` URL, lowercase, without port, user info or a trailing dot;
/// `None` for anything else.
pub fn host_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        format!("[{}]", v6.split(']').next()?)
    } else {
        host_port.split(':').next()?.to_string()
    };
    let host = host.trim_end_matches('.').to_lowercase();
    (!host.is_empty()).then_some(host)
}

/// Whether `domain` is `listed` or one of its subdomains, ignoring case: `eu.spam.example` is
/// within `spam.example`, `notspam.example` is not.
pub fn within(domain: &str, listed: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    let listed = listed.trim_end_matches('.');
    if domain.len() < listed.len() {
        return false;
    }
    let (head, tail) = domain.split_at(domain.len() - listed.len());
    tail.eq_ignore_ascii_case(listed) && (head.is_empty() || head.ends_with('.'))
}

/// A domain as an operator writes it, normalized: trimmed, lowercase, without a leading `*.`
/// or `.` and a trailing `.`. An error names what is wrong with it (a domain has letters,
/// digits, `-` and dots, and no scheme, path or port).
pub fn normalize(written: &str) -> Result<String, String> {
    let d = written.trim().to_lowercase();
    let d = d.strip_prefix("*.").unwrap_or(&d);
    let d = d.trim_start_matches('.').trim_end_matches('.');
    let ok = !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d.to_string())
    } else {
        Err(format!(
            "`{written}` is not a domain (write it like `spam.example`, without scheme, path or port)"
        ))
    }
}

/// A list of domains, each covering its subdomains.
#[derive(Clone, Debug, Default)]
pub struct Domains {
    list: Vec<String>,
}

impl Domains {
    /// The domains, normalized (see [`normalize`]); the first that is not a domain is an error.
    pub fn new<S: AsRef<str>>(written: impl IntoIterator<Item = S>) -> Result<Domains, String> {
        let list = written
            .into_iter()
            .map(|d| normalize(d.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Domains { list })
    }

    /// The listed domain that covers `domain`, if any (the most specific when several do).
    pub fn find(&self, domain: &str) -> Option<&str> {
        self.list
            .iter()
            .filter(|listed| within(domain, listed))
            .max_by_key(|listed| listed.len())
            .map(String::as_str)
    }

    /// Whether any listed domain covers the host of `url` (false for a URL without one).
    pub fn covers_url(&self, url: &str) -> bool {
        host_of(url).is_some_and(|h| self.find(&h).is_some())
    }

    /// Adds a domain, normalized.
    pub fn push(&mut self, written: &str) -> Result<(), String> {
        self.list.push(normalize(written)?);
        Ok(())
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_find_the_host_of_a_link() {
        for (url, want) in [
            ("https://Spam.Example/buy?now=1", Some("spam.example")),
            ("http://user:pw@spam.example:8080/x", Some("spam.example")),
            ("https://spam.example.", Some("spam.example")),
            ("https://[::1]:443/", Some("[::1]")),
            ("https://spam.example#top", Some("spam.example")),
            ("mailto:a@spam.example", None),
            ("ftp://spam.example/", None),
            ("spam.example/path", None),
            ("https:///nohost", None),
        ] {
            assert_eq!(host_of(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn can_match_a_domain_and_its_subdomains_only() {
        assert!(within("spam.example", "spam.example"));
        assert!(within("eu.Spam.example", "spam.example"));
        assert!(within("spam.example.", "spam.example"));
        assert!(!within("notspam.example", "spam.example"));
        assert!(!within("example", "spam.example"));
        assert!(!within("spam.example.org", "spam.example"));
    }

    #[test]
    fn can_normalize_what_an_operator_writes() {
        assert_eq!(normalize(" *.Spam.Example. ").unwrap(), "spam.example");
        assert_eq!(normalize(".spam.example").unwrap(), "spam.example");
        assert_eq!(normalize("bücher.example").unwrap(), "bücher.example");
    }

    #[test]
    fn rejects_what_is_not_a_domain() {
        for bad in [
            "",
            "https://spam.example",
            "spam.example:443",
            "spam example",
            "spam..example",
            "ex*mple.com",
        ] {
            let e = normalize(bad).unwrap_err();
            assert!(e.contains("is not a domain"), "{bad}: {e}");
        }
    }

    #[test]
    fn can_find_the_most_specific_listed_domain() {
        let d = Domains::new(["example", "spam.example"]).unwrap();
        assert_eq!(d.find("eu.spam.example"), Some("spam.example"));
        assert_eq!(d.find("ham.example"), Some("example"));
        assert_eq!(d.find("example.org"), None);
        assert!(d.covers_url("https://EU.spam.example/x"));
        assert!(!d.covers_url("not a url"));
        assert!(Domains::new(["ok.example", "not ok"]).is_err());
    }
}

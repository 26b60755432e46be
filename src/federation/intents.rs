//! Remote interaction: a visitor with an account on another server follows one of our actors, or
//! replies to, boosts or likes one of our posts, *on their own server*. This module owns reading
//! the handle they type ([`Account::parse`]), looking it up by WebFinger and choosing where on
//! their server to send them ([`destination`]). It does not rate-limit or answer the browser
//! (`http` does) and it changes nothing on our side.
//!
//! The link is taken from the visitor's WebFinger answer, first usable one wins:
//! 1. FEP-3b86 Activity Intents: for a follow `https://w3id.org/fep/3b86/Follow` (`{object}`),
//!    then `.../Object` (`{object}`: the object opened on their server, which is what Mastodon's
//!    own remote-interaction dialog falls back to); for a post `.../Object` (one page where they
//!    reply, boost or like), then `.../Create` when its template takes `{inReplyTo}` (a reply
//!    form; a Create template without it would only start an unrelated post).
//! 2. `http://ostatus.org/schema/1.0/subscribe` with `{uri}` (Mastodon, Pleroma/Akkoma,
//!    GoToSocial, Misskey and its forks, which publish `/authorize-follow?acct={uri}` there; so
//!    no Misskey path is hard-coded).
//! 3. No template at all: the server's search, `/search?q=<uri>` (Mastodon resolves a pasted URL).
//!
//! A template's link is taken as `template` or `href` (the FEP says `href`, servers write
//! `template`). Every placeholder is filled percent-encoded; `{on-success}` and `{on-cancel}` get
//! the page the visitor came from, and any other placeholder an empty string, as the FEP asks.
//! The filled link must be `https:` (`http:` only under `[dev] allow_http`), without user info,
//! on a host the WebFinger answer speaks for (the handle's host, its subject, aliases and `self`
//! or profile-page links), so a server cannot send our visitors to `javascript:` or to a third
//! site. When templates were published but none passes, the visitor is told so
//! ([`InteractError::Unusable`]) with the search link, rather than sent anywhere.

use std::collections::HashSet;

use serde_json::Value;
use url::Url;

use super::addressing::{actor_link, webfinger_jrd, ResolveError};
use super::fetch::{parsed_authority, FetchObjectError, Fetcher};
use crate::urls::encode_segment;

/// FEP-3b86's Follow intent.
pub const REL_FOLLOW: &str = "https://w3id.org/fep/3b86/Follow";
/// FEP-3b86's Object intent: the object opened on the home server.
pub const REL_OBJECT: &str = "https://w3id.org/fep/3b86/Object";
/// FEP-3b86's Create intent (a new post, here a reply through `{inReplyTo}`).
pub const REL_CREATE: &str = "https://w3id.org/fep/3b86/Create";
/// OStatus remote follow, kept by most servers for remote interaction.
pub const REL_SUBSCRIBE: &str = "http://ostatus.org/schema/1.0/subscribe";

/// The longest handle taken (Mastodon's usernames are at most 30 characters, host names 253).
const MAX_HANDLE: usize = 320;

/// What the visitor means to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Follow one of our actors.
    Follow,
    /// Reply to, boost or like one of our posts.
    Interact,
}

/// A visitor's account: `user@host`, the host with its port if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    /// Lowercase `name[:port]`.
    pub host: String,
}

/// Why a typed handle is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadAccount {
    #[error("no handle was given")]
    Empty,
    #[error("a handle has the form @you@your.server")]
    Shape,
    #[error("{0:?} is not a server name")]
    Host(String),
    #[error("{0:?} may only contain letters, digits and . _ - ~")]
    User(String),
}

impl Account {
    /// Reads what a visitor typed: `@user@host`, `user@host`, `acct:user@host`, or a profile URL
    /// `https://host/@user` (or `/users/user`). Spaces around it are ignored.
    pub fn parse(input: &str) -> Result<Account, BadAccount> {
        let input = input.trim();
        if input.is_empty() {
            return Err(BadAccount::Empty);
        }
        if input.len() > MAX_HANDLE {
            return Err(BadAccount::Shape);
        }
        let lower = input.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return Account::from_profile_url(input);
        }
        let rest = input.strip_prefix("acct:").unwrap_or(input);
        let rest = rest.strip_prefix('@').unwrap_or(rest);
        let Some((user, host)) = rest.split_once('@') else {
            return Err(BadAccount::Shape);
        };
        Account::from_parts(user, host)
    }

    fn from_profile_url(input: &str) -> Result<Account, BadAccount> {
        let url = Url::parse(input).map_err(|_| BadAccount::Shape)?;
        let host = url.host_str().ok_or(BadAccount::Shape)?;
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let user = match segments.as_slice() {
            [at] if at.starts_with('@') && !at[1..].contains('@') => &at[1..],
            ["users", user] => user,
            _ => return Err(BadAccount::Shape),
        };
        Account::from_parts(user, &host)
    }

    fn from_parts(user: &str, host: &str) -> Result<Account, BadAccount> {
        if user.is_empty() || host.is_empty() {
            return Err(BadAccount::Shape);
        }
        if !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~'))
        {
            return Err(BadAccount::User(user.to_string()));
        }
        let bad_host = || BadAccount::Host(host.to_string());
        // A name (or address) with an optional port, and nothing else: the URL parser also
        // lowercases it and turns an internationalised name into its ASCII form.
        if host.contains(['/', '?', '#', '@', '\\']) || host.chars().any(char::is_whitespace) {
            return Err(bad_host());
        }
        let url = Url::parse(&format!("https://{host}/")).map_err(|_| bad_host())?;
        let name = url
            .host_str()
            .filter(|h| h.contains('.') || h.starts_with('['));
        if name.is_none() && url.host_str() != Some("localhost") {
            return Err(bad_host());
        }
        Ok(Account {
            user: user.to_string(),
            host: parsed_authority(&url).ok_or_else(bad_host)?,
        })
    }

    /// `acct:user@host`, the WebFinger resource.
    pub fn acct(&self) -> String {
        format!("acct:{}@{}", self.user, self.host)
    }

    /// The host without its port.
    pub fn host_name(&self) -> &str {
        host_name(&self.host)
    }
}

/// `name` of `name[:port]` (an IPv6 address keeps its brackets).
fn host_name(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => authority,
    }
}

/// What we ask the visitor's server to do, and with what.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub intent: Intent,
    /// Our actor's or post's id.
    pub object: &'a str,
    /// Our page the visitor came from (for `{on-success}` and `{on-cancel}`).
    pub back: &'a str,
}

/// Where the visitor is sent, and what told us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub url: String,
    pub via: Via,
}

/// Which link the destination came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A FEP-3b86 intent, by its relation.
    Intent(&'static str),
    /// The OStatus subscribe template.
    Subscribe,
    /// No template: the server's search.
    Search,
}

impl Via {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Via::Intent(REL_FOLLOW) => "fep-3b86-follow",
            Via::Intent(REL_OBJECT) => "fep-3b86-object",
            Via::Intent(_) => "fep-3b86-create",
            Via::Subscribe => "ostatus-subscribe",
            Via::Search => "search",
        }
    }
}

/// Why the visitor cannot be sent to a page of their server that does it.
#[derive(Debug, thiserror::Error)]
pub enum InteractError {
    /// The server has no such account (WebFinger answered 404 or 410).
    #[error("{host} has no account {acct}")]
    NoSuchAccount {
        acct: String,
        host: String,
        search: String,
    },
    /// The server could not be reached (name, connection, TLS, time limit, address rules).
    #[error("{host} could not be reached: {source}")]
    Unreachable {
        host: String,
        search: String,
        #[source]
        source: Box<FetchObjectError>,
    },
    /// It answered, but not as a fediverse server would (another status, not JSON).
    #[error("{host} did not answer WebFinger as a fediverse server: {source}")]
    NotFediverse {
        host: String,
        search: String,
        #[source]
        source: Box<FetchObjectError>,
    },
    /// It published links, but none we may send a visitor to.
    #[error("{host} published no usable link (refused: {refused})")]
    Unusable {
        host: String,
        search: String,
        /// The links refused, for the log.
        refused: String,
    },
}

impl InteractError {
    /// The server's search page for our object, offered as the way on.
    pub fn search(&self) -> &str {
        match self {
            InteractError::NoSuchAccount { search, .. }
            | InteractError::Unreachable { search, .. }
            | InteractError::NotFediverse { search, .. }
            | InteractError::Unusable { search, .. } => search,
        }
    }

    /// A short name for logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            InteractError::NoSuchAccount { .. } => "no-such-account",
            InteractError::Unreachable { .. } => "unreachable",
            InteractError::NotFediverse { .. } => "not-fediverse",
            InteractError::Unusable { .. } => "unusable-link",
        }
    }
}

/// `https://host/search?q=<object>`: the search of the visitor's server (`scheme` is `https`
/// except for development peers).
pub fn search_url(scheme: &str, host: &str, object: &str) -> String {
    format!("{scheme}://{host}/search?q={}", encode_segment(object))
}

/// Looks `account` up by WebFinger and picks the page of its server that does `request` (see
/// the module doc for the order).
pub async fn destination(
    fetcher: &Fetcher,
    account: &Account,
    request: &Request<'_>,
) -> Result<Destination, InteractError> {
    let fallback = search_url("https", &account.host, request.object);
    let jrd = match webfinger_jrd(fetcher, &account.acct(), &account.host).await {
        Ok(jrd) => jrd,
        Err(ResolveError::Fetch(e)) => return Err(lookup_failed(account, fallback, e)),
        Err(e) => {
            // Only a host the URL parser refuses gets here, and `Account::parse` checked it.
            return Err(InteractError::NotFediverse {
                host: account.host.clone(),
                search: fallback,
                source: Box::new(FetchObjectError::BadUrl { url: e.to_string() }),
            });
        }
    };
    choose(&jrd, account, request, fetcher.allow_http())
}

fn lookup_failed(account: &Account, search: String, e: FetchObjectError) -> InteractError {
    let host = account.host.clone();
    if e.is_gone() {
        InteractError::NoSuchAccount {
            acct: format!("{}@{}", account.user, account.host),
            host,
            search,
        }
    } else if matches!(
        e,
        FetchObjectError::Status { .. } | FetchObjectError::NotJson { .. }
    ) {
        InteractError::NotFediverse {
            host,
            search,
            source: Box::new(e),
        }
    } else {
        InteractError::Unreachable {
            host,
            search,
            source: Box::new(e),
        }
    }
}

/// The relations tried for `intent`, in order, each with the placeholder it must carry.
fn candidates(intent: Intent) -> &'static [(&'static str, &'static str, Via)] {
    match intent {
        Intent::Follow => &[
            (REL_FOLLOW, "{object}", Via::Intent(REL_FOLLOW)),
            (REL_OBJECT, "{object}", Via::Intent(REL_OBJECT)),
            (REL_SUBSCRIBE, "{uri}", Via::Subscribe),
        ],
        Intent::Interact => &[
            (REL_OBJECT, "{object}", Via::Intent(REL_OBJECT)),
            (REL_CREATE, "{inReplyTo}", Via::Intent(REL_CREATE)),
            (REL_SUBSCRIBE, "{uri}", Via::Subscribe),
        ],
    }
}

/// The destination a WebFinger answer gives for `request` (pure: [`destination`] without the
/// lookup).
pub fn choose(
    jrd: &Value,
    account: &Account,
    request: &Request<'_>,
    allow_http: bool,
) -> Result<Destination, InteractError> {
    let allowed = hosts_spoken_for(jrd, account);
    let links: Vec<&Value> = jrd
        .get("links")
        .and_then(Value::as_array)
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    let template_of = |rel: &str, needs: &str| {
        links
            .iter()
            .filter(|l| l.get("rel").and_then(Value::as_str) == Some(rel))
            .filter_map(|l| {
                l.get("template")
                    .and_then(Value::as_str)
                    .or_else(|| l.get("href").and_then(Value::as_str))
            })
            .find(|t| t.contains(needs))
    };
    let mut refused = Vec::new();
    for (rel, needs, via) in candidates(request.intent) {
        let Some(template) = template_of(rel, needs) else {
            continue;
        };
        let filled = fill(template, request);
        match usable(&filled, &allowed, allow_http) {
            Some(url) => return Ok(Destination { url, via: *via }),
            None => refused.push(format!("{rel}: {template:?}")),
        }
    }
    let search = search_link(jrd, account, request.object, allow_http);
    if refused.is_empty() {
        Ok(Destination {
            url: search,
            via: Via::Search,
        })
    } else {
        Err(InteractError::Unusable {
            host: account.host.clone(),
            search,
            refused: refused.join(", "),
        })
    }
}

/// Every `{name}` of `template` filled: our id, our page for the way back, else nothing.
fn fill(template: &str, request: &Request<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 2 * request.object.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let name = &rest[open + 1..close];
        out.push_str(&rest[..open]);
        match name {
            "object" | "uri" | "inReplyTo" => out.push_str(&encode_segment(request.object)),
            "on-success" | "on-cancel" => out.push_str(&encode_segment(request.back)),
            _ => {}
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `url` when a visitor may be sent there: `https:` (`http:` when `allow_http`), no user info,
/// on one of `hosts`.
fn usable(url: &str, hosts: &HashSet<String>, allow_http: bool) -> Option<String> {
    let safe = super::fetch::safe_remote_url(url, allow_http)?;
    let parsed = Url::parse(&safe).ok()?;
    let host = parsed_authority(&parsed)?;
    (hosts.contains(&host) || hosts.contains(host_name(&host))).then_some(safe)
}

/// The hosts a WebFinger answer speaks for: the handle's, and those of its subject, aliases and
/// `self` and profile-page links.
fn hosts_spoken_for(jrd: &Value, account: &Account) -> HashSet<String> {
    let mut hosts = HashSet::from([account.host.clone(), account.host_name().to_string()]);
    let mut add_url = |u: &str| {
        if let Some(a) = Url::parse(u).ok().as_ref().and_then(parsed_authority) {
            hosts.insert(host_name(&a).to_string());
            hosts.insert(a);
        }
    };
    if let Some(subject) = jrd.get("subject").and_then(Value::as_str) {
        match subject.strip_prefix("acct:") {
            Some(acct) => {
                if let Some((_, host)) = acct.rsplit_once('@') {
                    add_url(&format!("https://{host}/"));
                }
            }
            None => add_url(subject),
        }
    }
    for alias in jrd
        .get("aliases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        add_url(alias);
    }
    for link in jrd
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rel = link.get("rel").and_then(Value::as_str);
        if matches!(rel, Some("self" | "http://webfinger.net/rel/profile-page")) {
            if let Some(href) = link.get("href").and_then(Value::as_str) {
                add_url(href);
            }
        }
    }
    hosts
}

/// The search of the server the account lives on: the origin of its actor when WebFinger names
/// one (a handle on `example.com` may live on `social.example.com`), else the handle's host.
fn search_link(jrd: &Value, account: &Account, object: &str, allow_http: bool) -> String {
    actor_link(jrd)
        .and_then(|a| super::fetch::safe_remote_url(a, allow_http))
        .and_then(|a| Url::parse(&a).ok())
        .and_then(|u| Some((u.scheme().to_string(), parsed_authority(&u)?)))
        .map(|(scheme, host)| search_url(&scheme, &host, object))
        .unwrap_or_else(|| search_url("https", &account.host, object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OBJECT: &str = "https://town.example/users/news";
    const BACK: &str = "https://town.example/@news";

    fn follow() -> Request<'static> {
        Request {
            intent: Intent::Follow,
            object: OBJECT,
            back: BACK,
        }
    }

    fn you() -> Account {
        Account::parse("@you@m.example").unwrap()
    }

    fn jrd(links: Value) -> Value {
        json!({
            "subject": "acct:you@m.example",
            "links": links,
        })
    }

    #[test]
    fn can_read_every_way_a_visitor_writes_a_handle() {
        let want = Account {
            user: "you".into(),
            host: "m.example".into(),
        };
        for typed in [
            "@you@m.example",
            "you@m.example",
            " @you@M.Example ",
            "acct:you@m.example",
            "https://m.example/@you",
            "https://m.example/users/you",
            "https://m.example/@you/",
        ] {
            assert_eq!(Account::parse(typed), Ok(want.clone()), "{typed}");
        }
        assert_eq!(
            Account::parse("@you@127.0.0.1:8080").unwrap().host,
            "127.0.0.1:8080"
        );
        assert_eq!(
            Account::parse("@you@bücher.example").unwrap().host,
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn rejects_what_is_not_a_handle() {
        for (typed, why) in [
            ("", BadAccount::Empty),
            ("   ", BadAccount::Empty),
            ("you", BadAccount::Shape),
            ("@you", BadAccount::Shape),
            ("@you@", BadAccount::Shape),
            ("@@m.example", BadAccount::Shape),
            ("https://m.example/about", BadAccount::Shape),
            ("javascript:alert(1)", BadAccount::Shape),
            (
                "@you@m.example/path",
                BadAccount::Host("m.example/path".into()),
            ),
            ("@you@a@b.example", BadAccount::Host("a@b.example".into())),
            ("@you@nodot", BadAccount::Host("nodot".into())),
            ("@y ou@m.example", BadAccount::User("y ou".into())),
            ("@you\"<@m.example", BadAccount::User("you\"<".into())),
        ] {
            assert_eq!(Account::parse(typed), Err(why), "{typed:?}");
        }
    }

    #[test]
    fn can_prefer_a_fep_3b86_follow_intent_over_the_subscribe_template() {
        let doc = jrd(json!([
            { "rel": REL_SUBSCRIBE, "template": "https://m.example/authorize_interaction?uri={uri}" },
            { "rel": REL_FOLLOW, "href": "https://m.example/intents/follow?id={object}&back={on-success}&x={unknown}" },
        ]));
        let d = choose(&doc, &you(), &follow(), false).unwrap();
        assert_eq!(d.via, Via::Intent(REL_FOLLOW));
        assert_eq!(
            d.url,
            "https://m.example/intents/follow?id=https%3A%2F%2Ftown.example%2Fusers%2Fnews&back=https%3A%2F%2Ftown.example%2F%40news&x="
        );
    }

    #[test]
    fn can_fill_the_subscribe_template_when_no_intent_fits() {
        // A Create template without {inReplyTo} would start an unrelated post: skipped.
        let doc = jrd(json!([
            { "rel": REL_CREATE, "href": "https://m.example/share?text={content}" },
            { "rel": REL_SUBSCRIBE, "template": "https://m.example/authorize_interaction?uri={uri}" },
        ]));
        let post = Request {
            intent: Intent::Interact,
            object: "https://town.example/users/news/posts/a b",
            back: BACK,
        };
        let d = choose(&doc, &you(), &post, false).unwrap();
        assert_eq!(d.via, Via::Subscribe);
        assert_eq!(
            d.url,
            "https://m.example/authorize_interaction?uri=https%3A%2F%2Ftown.example%2Fusers%2Fnews%2Fposts%2Fa%20b"
        );
        let with_reply = jrd(json!([
            { "rel": REL_SUBSCRIBE, "template": "https://m.example/authorize_interaction?uri={uri}" },
            { "rel": REL_CREATE, "href": "https://m.example/share?in_reply_to={inReplyTo}&text={content}" },
        ]));
        assert_eq!(
            choose(&with_reply, &you(), &post, false).unwrap().via,
            Via::Intent(REL_CREATE)
        );
    }

    #[test]
    fn can_fall_back_to_the_search_of_the_server_the_actor_lives_on() {
        let doc = json!({
            "subject": "acct:you@example.com",
            "links": [{ "rel": "self", "type": "application/activity+json", "href": "https://social.example.com/users/you" }],
        });
        let account = Account::parse("you@example.com").unwrap();
        let d = choose(&doc, &account, &follow(), false).unwrap();
        assert_eq!(
            d,
            Destination {
                url:
                    "https://social.example.com/search?q=https%3A%2F%2Ftown.example%2Fusers%2Fnews"
                        .into(),
                via: Via::Search
            }
        );
        // ...and a template there is the server's own.
        let doc = json!({
            "subject": "acct:you@example.com",
            "links": [
                { "rel": "self", "type": "application/activity+json", "href": "https://social.example.com/users/you" },
                { "rel": REL_SUBSCRIBE, "template": "https://social.example.com/authorize_interaction?uri={uri}" },
            ],
        });
        assert_eq!(
            choose(&doc, &account, &follow(), false).unwrap().via,
            Via::Subscribe
        );
    }

    #[test]
    fn rejects_a_template_that_leads_anywhere_but_the_visitors_server() {
        for bad in [
            "javascript:alert(1)//{uri}",
            "data:text/html,<script>{uri}</script>",
            "http://m.example/authorize_interaction?uri={uri}",
            "https://evil.example/phish?uri={uri}",
            "https://m.example@evil.example/?uri={uri}",
            "/authorize_interaction?uri={uri}",
        ] {
            let doc = jrd(json!([{ "rel": REL_SUBSCRIBE, "template": bad }]));
            match choose(&doc, &you(), &follow(), false) {
                Err(InteractError::Unusable { search, .. }) => assert_eq!(
                    search,
                    "https://m.example/search?q=https%3A%2F%2Ftown.example%2Fusers%2Fnews"
                ),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // A usable link later in the order still wins over a refused one.
        let doc = jrd(json!([
            { "rel": REL_FOLLOW, "href": "javascript:{object}" },
            { "rel": REL_SUBSCRIBE, "template": "https://m.example/authorize_interaction?uri={uri}" },
        ]));
        assert_eq!(
            choose(&doc, &you(), &follow(), false).unwrap().via,
            Via::Subscribe
        );
    }
}

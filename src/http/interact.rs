//! `GET /interact?acct=@you@your.server&uri=<our actor or post id>`: where the Follow form of a
//! profile page and the Reply, boost or like form of a post page send the visitor's handle.
//!
//! This module owns that answer: the `uri` must name one of our actors or published posts
//! (else 400), the handle must read as one (else 400, with the form again), the client must have
//! lookups left ([`super::limits::Lookups`], else 429 with `Retry-After`); then the visitor's
//! server is looked up by WebFinger, server-side, through the outgoing client and its address
//! rules (`federation::intents` chooses the link), within [`LOOKUP_TIMEOUT`], and the visitor is
//! sent there with `303 See Other`. A lookup that fails gets a page that says why in words and
//! links to the search of their server. It is a GET with no effect on our side (bookmarkable,
//! no CSRF token needed). Each lookup is logged with its host and outcome; the handle itself
//! only at debug level.

use std::net::IpAddr;
use std::time::Duration;

use hyper::header::{self, HeaderValue};
use hyper::StatusCode;
use url::Url;

use super::pages::{self, Interaction, Problem};
use super::response::{self as r, Resp};
use super::routes::{query_param, Route};
use super::State;
use crate::catalog::Catalog;
use crate::config::Actor;
use crate::federation::intents::{self, Account, BadAccount, Intent, InteractError, Request};
use crate::federation::objects::escape;

/// The longest a visitor waits for their server's WebFinger answer (both tries, `https` then,
/// under `[dev] allow_http`, `http`), well under the client's own 30 s: a person is waiting.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// What `uri` names: one of our actors, or one of its published posts.
struct Target<'a> {
    actor: &'a Actor,
    /// The id sent to the visitor's server.
    id: String,
    /// Our page of it, for the way back.
    page: String,
    post: bool,
}

/// Answers `GET /interact` for a client at `peer` (`None` only when the server could not tell).
pub async fn interact(app: &State, catalog: &Catalog, peer: Option<IpAddr>, query: &str) -> Resp {
    let uri = query_param(query, "uri").unwrap_or_default();
    let Some(target) = target(app, catalog, &uri) else {
        tracing::debug!(uri = %uri, "interact: uri names nothing of ours");
        return r::html(
            StatusCode::BAD_REQUEST,
            pages::interact_unknown(&app.site, &app.urls),
        );
    };
    let what = if target.post {
        Interaction::Post(target.actor, &target.id)
    } else {
        Interaction::Follow(target.actor)
    };
    let typed = query_param(query, "acct").unwrap_or_default();
    let problem = |status: StatusCode, title: &str, message_html: String| {
        let page = pages::interact_problem(
            &app.site,
            &app.urls,
            target.actor,
            &Problem {
                title,
                message_html,
                form: Some((&what, typed.as_str())),
            },
        );
        r::html(status, page)
    };
    let account = match Account::parse(&typed) {
        Ok(account) => account,
        Err(e) => {
            tracing::debug!(error = %e, "interact: not a handle");
            return problem(
                StatusCode::BAD_REQUEST,
                "Write your fediverse handle",
                bad_account_message(&e),
            );
        }
    };
    if account.host_name() == app.site.domain || account.host == app.site.domain {
        return problem(
            StatusCode::BAD_REQUEST,
            "That handle is on this site",
            format!(
                "{} only publishes; it has no accounts to follow from. Write the handle of your \
own account on another server, like @you@your.server.",
                escape(&app.site.domain)
            ),
        );
    }
    // A client the server could not tell apart shares one allowance with every other such one.
    let client = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if let Err(wait_s) = app
        .lookups
        .take(client, app.clock.now_ms(), &app.site.limits)
    {
        tracing::info!(host = %account.host, outcome = "rate-limited", retry_after_s = wait_s, "interact lookup");
        let mut resp = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many lookups",
            format!(
                "This site has looked up too many handles for your address in the last minute. \
Try again in {wait_s} second{}.",
                if wait_s == 1 { "" } else { "s" }
            ),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait_s));
        return resp;
    }
    tracing::debug!(acct = %account.acct(), "interact lookup");
    let request = Request {
        intent: if target.post {
            Intent::Interact
        } else {
            Intent::Follow
        },
        object: &target.id,
        back: &target.page,
    };
    let found = tokio::time::timeout(
        LOOKUP_TIMEOUT,
        intents::destination(&app.fetcher, &account, &request),
    )
    .await;
    let (status, title, why, search) = match found {
        Ok(Ok(dest)) => {
            tracing::info!(host = %account.host, outcome = dest.via.name(), "interact lookup");
            return r::redirect(StatusCode::SEE_OTHER, &dest.url);
        }
        Ok(Err(e)) => {
            // The error names the WebFinger URL, which holds the handle: debug level only.
            tracing::info!(host = %account.host, outcome = e.outcome(), "interact lookup");
            tracing::debug!(error = %e, "interact lookup failed");
            let (status, title, why) = failure_words(&e, &account);
            (status, title, why, e.search().to_string())
        }
        Err(_) => {
            tracing::info!(host = %account.host, outcome = "timeout", "interact lookup");
            (
                StatusCode::GATEWAY_TIMEOUT,
                "Your server did not answer",
                format!(
                    "{} did not answer within {} seconds.",
                    escape(&account.host),
                    LOOKUP_TIMEOUT.as_secs()
                ),
                intents::search_url("https", &account.host, &target.id),
            )
        }
    };
    problem(
        status,
        title,
        format!(
            "{why} You can still search for it there: <a href=\"{0}\">{0}</a>",
            escape(&search)
        ),
    )
}

/// What `uri` names, when it is one of our actors or published posts: an id of ours (or the page
/// URL of one), on our origin, without query or fragment.
fn target<'a>(app: &'a State, catalog: &Catalog, uri: &str) -> Option<Target<'a>> {
    let url = Url::parse(uri).ok()?;
    let ours = Url::parse(&app.urls.home()).ok()?;
    if url.origin() != ours.origin() || url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    let (site, urls) = (&app.site, &app.urls);
    match Route::parse(url.path())? {
        Route::Actor(handle) => Some(Target {
            actor: site.actor(&handle)?,
            id: urls.actor(&handle),
            page: urls.actor_html(&handle),
            post: false,
        }),
        Route::Post(handle, slug) => {
            let actor = site.actor(&handle)?;
            let post = &catalog.public_post(&handle, &slug)?.post;
            Some(Target {
                actor,
                id: urls.post(&handle, &slug),
                page: urls.post_url(&handle, &slug, &post.page_path, post.more().url.as_deref()),
                post: true,
            })
        }
        _ => None,
    }
}

/// What to write instead of a handle that is not one.
fn bad_account_message(e: &BadAccount) -> String {
    let example = "Write the handle of your account like <strong>@you@your.server</strong>: \
your user name, then @ and the name of the server your account is on (for example \
@alex@mastodon.social). A link to your profile, like https://your.server/@you, works too.";
    match e {
        BadAccount::Empty | BadAccount::Shape => example.to_string(),
        BadAccount::Host(host) => {
            format!("“{}” is not the name of a server. {example}", escape(host))
        }
        BadAccount::User(user) => format!(
            "A user name has only letters, digits and . _ - ~, not “{}”. {example}",
            escape(user)
        ),
    }
}

/// The status, heading and first sentence of the page for a lookup that failed.
fn failure_words(e: &InteractError, account: &Account) -> (StatusCode, &'static str, String) {
    let host = escape(&account.host);
    match e {
        InteractError::NoSuchAccount { .. } => (
            StatusCode::NOT_FOUND,
            "No such account",
            format!(
                "{host} says it has no account @{}@{host}. Check the spelling of your handle.",
                escape(&account.user)
            ),
        ),
        InteractError::Unreachable { .. } => (
            StatusCode::BAD_GATEWAY,
            "Could not reach your server",
            format!("{host} could not be reached just now (it may be down, or not exist)."),
        ),
        InteractError::NotFediverse { .. } => (
            StatusCode::BAD_GATEWAY,
            "Not a fediverse server",
            format!(
                "{host} did not answer as a fediverse server does (no WebFinger for your handle)."
            ),
        ),
        InteractError::Unusable { .. } => (
            StatusCode::BAD_GATEWAY,
            "Your server gave no usable link",
            format!(
                "{host} answered, but the link it gave for following or replying is not one this \
site may send you to."
            ),
        ),
    }
}

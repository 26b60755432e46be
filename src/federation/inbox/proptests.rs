//! Property tests of what the inbox does with activities from anyone: the checks that need no
//! network never panic whatever JSON arrives, an activity they pass is on its actor's origin and
//! not ours, and a scrubbed document keeps no link a browser would run.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::jsonld;
use super::receive::check_activity;
use crate::federation::fetch::{safe_remote_url, same_origin, scrub_document};

const OURS: &str = "https://social.city.example";

/// URLs as hostile servers write them: other schemes, mixed case, entities, userinfo.
const HOSTILE_URLS: [&str; 10] = [
    "https://remote.example/users/alice",
    "https://remote.example/notes/1",
    "https://other.example/users/bob",
    "javascript://remote.example/%0Aalert(1)",
    "JaVaScRiPt:alert(1)",
    "&#106;avascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "http://remote.example/users/alice",
    "https://victim@remote.example/users/alice",
];

/// The keys activities use, likely to appear in [`value`]'s objects.
const KEYS: [&str; 17] = [
    "id",
    "type",
    "actor",
    "object",
    "url",
    "href",
    "icon",
    "image",
    "content",
    "summary",
    "name",
    "@context",
    "@graph",
    "@id",
    "attributedTo",
    "tag",
    "attachment",
];

/// Activity types, the ones the inbox handles first.
const KINDS: [&str; 7] = [
    "Create", "Update", "Delete", "Undo", "Like", "Follow", "Move",
];

/// [`HOSTILE_URLS`] and one of ours, or any URL-shaped string (each fixed one as likely as
/// either pattern).
fn url() -> impl Strategy<Value = String> {
    let fixed: Vec<String> = HOSTILE_URLS
        .iter()
        .map(|u| u.to_string())
        .chain([format!("{OURS}/users/news")])
        .collect();
    prop_oneof![
        11 => prop::sample::select(fixed),
        1 => "[a-z]{1,8}:[ -~]{0,30}",
        1 => "https://[a-z.]{1,20}/[ -~]{0,30}",
    ]
}

/// Any JSON, with URL-shaped strings and the keys activities use likely to appear.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        url().prop_map(Value::from),
        "[ -~]{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop::sample::select(&KEYS[..]).prop_map(str::to_string);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An activity whose top-level fields are drawn from the hostile set.
fn activity() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        7 => prop::sample::select(&KINDS[..]).prop_map(str::to_string),
        1 => "[A-Za-z]{1,10}",
    ];
    (url(), kind, url(), value(), value()).prop_map(|(id, kind, actor, object, context)| {
        json!({ "@context": context, "id": id, "type": kind, "actor": actor, "object": object })
    })
}

proptest! {
    #[test]
    fn proptest_checks_never_panic_and_keep_origins(a in activity(), allow_http in any::<bool>()) {
        let _ = jsonld::trick(&a);
        if let Ok(checked) = check_activity(OURS, allow_http, &a) {
            let id = a["id"].as_str().unwrap();
            prop_assert!(same_origin(id, &checked.actor), "{id} vs {}", checked.actor);
            prop_assert!(!checked.actor.starts_with(OURS));
            prop_assert!(safe_remote_url(&checked.actor, allow_http).is_some());
        }
    }

    #[test]
    fn proptest_scrubbed_documents_keep_no_active_link(doc in value(), allow_http in any::<bool>()) {
        let clean = scrub_document(&doc, allow_http);
        assert_nothing_active(&clean, allow_http)?;
    }
}

/// Every link-bearing string left is a safe URL, and no HTML left holds a script, an event
/// handler or a link to anything but a safe URL.
fn assert_nothing_active(v: &Value, allow_http: bool) -> Result<(), TestCaseError> {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if let (true, Value::String(s)) = (matches!(k.as_str(), "url" | "href"), v) {
                    prop_assert!(safe_remote_url(s, allow_http).is_some(), "{k}: {s}");
                }
                if let (true, Value::String(html)) =
                    (matches!(k.as_str(), "content" | "summary"), v)
                {
                    let html = html.to_ascii_lowercase();
                    for bad in [
                        "<script",
                        "onerror=",
                        "onclick=",
                        "href=\"javascript",
                        "href=\"data:",
                        "href=\"vbscript",
                        "src=",
                    ] {
                        prop_assert!(!html.contains(bad), "{bad} kept in {html}");
                    }
                }
                assert_nothing_active(v, allow_http)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                assert_nothing_active(v, allow_http)?;
            }
        }
        _ => {}
    }
    Ok(())
}

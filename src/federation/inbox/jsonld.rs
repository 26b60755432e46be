//! Activities that a JSON-LD processor would read otherwise than masthead does.
//!
//! masthead reads activities as plain JSON with the ActivityStreams context assumed, as every
//! fediverse server does. A document can be written so that its plain-JSON reading and its JSON-LD
//! reading differ: top-level `@graph` or `@included` add nodes a plain reader does not see, and an
//! inline `@context` may map a core term (`actor`, `object`, `to`...) to another IRI or alias a
//! keyword (`"kind": "@type"`). A signature over such a document (an LD signature checked by a
//! JSON-LD processor elsewhere, a relay forwarding it) would vouch for something else than what
//! we act on, so [`trick`] names the first such construct and the inbox drops the activity (202,
//! logged). Extension terms mapped into the `as:` namespace (Mastodon's `sensitive`, `Hashtag`,
//! `manuallyApprovesFollowers`), `toot:`, `schema:` and other prefixes are normal and pass.
//!
//! It reads only the document: remote contexts named by URL are not fetched (the ActivityStreams
//! and security contexts define nothing surprising, and any other one cannot remap a core term
//! defined by an earlier, protected, context in a way a conforming processor would accept).

use serde_json::{Map, Value};

/// The ActivityStreams namespace.
const AS_NS: &str = "https://www.w3.org/ns/activitystreams#";

/// Terms of the ActivityStreams context that masthead reads, or whose types it acts on: mapping
/// one of them to anything but its own `as:` IRI changes what the activity means.
const CORE_TERMS: &[&str] = &[
    "actor",
    "object",
    "target",
    "origin",
    "to",
    "cc",
    "bto",
    "bcc",
    "audience",
    "inReplyTo",
    "attributedTo",
    "content",
    "contentMap",
    "name",
    "summary",
    "url",
    "href",
    "tag",
    "attachment",
    "icon",
    "image",
    "published",
    "updated",
    "inbox",
    "outbox",
    "endpoints",
    "sharedInbox",
    "preferredUsername",
    "alsoKnownAs",
    "movedTo",
    "Public",
    "Create",
    "Update",
    "Delete",
    "Follow",
    "Accept",
    "Reject",
    "Undo",
    "Like",
    "Announce",
    "Block",
    "Move",
    "Flag",
    "Note",
    "Article",
    "Page",
    "Question",
    "Tombstone",
    "Mention",
    "Person",
    "Service",
    "Application",
    "Group",
    "Organization",
];

/// Keywords that add or hide nodes from a plain JSON reading.
const NODE_KEYWORDS: [&str; 3] = ["@graph", "@included", "@reverse"];

/// What in `activity` a JSON-LD processor would read otherwise, or `None` when nothing.
pub fn trick(activity: &Value) -> Option<String> {
    find(activity, true)
}

fn find(value: &Value, top: bool) -> Option<String> {
    match value {
        Value::Array(list) => list.iter().find_map(|v| find(v, false)),
        Value::Object(map) => {
            for keyword in NODE_KEYWORDS {
                if map.contains_key(keyword) {
                    let place = if top { "top-level" } else { "nested" };
                    return Some(format!("{place} {keyword}"));
                }
            }
            if let Some(context) = map.get("@context") {
                if let Some(why) = context_trick(context) {
                    return Some(why);
                }
            }
            map.iter()
                .filter(|(k, _)| k.as_str() != "@context")
                .find_map(|(_, v)| find(v, false))
        }
        _ => None,
    }
}

/// A `@context` (a URL, an object, or a list of them) that remaps a core term or the `as` prefix,
/// or aliases a keyword.
fn context_trick(context: &Value) -> Option<String> {
    match context {
        Value::Array(list) => list.iter().find_map(context_trick),
        Value::Object(map) => map
            .iter()
            .find_map(|(term, def)| term_trick(map, term, def)),
        _ => None,
    }
}

fn term_trick(context: &Map<String, Value>, term: &str, def: &Value) -> Option<String> {
    let iri = match def {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => {
            if o.contains_key("@reverse") || o.contains_key("@context") {
                return Some(format!(
                    "@context gives {term:?} a reverse or scoped definition"
                ));
            }
            o.get("@id").and_then(Value::as_str)
        }
        Value::Null => None,
        _ => return Some(format!("@context defines {term:?} oddly")),
    };
    if term.starts_with('@') {
        // @vocab, @language, @base, @version: they do not change a defined term.
        return None;
    }
    let canonical = match term {
        "id" => iri == Some("@id"),
        "type" => iri == Some("@type"),
        "as" => iri == Some(AS_NS),
        t if CORE_TERMS.contains(&t) => iri.is_some_and(|i| is_as_term(context, i, t)),
        // Any other term may mean what its context says, but not be a keyword in disguise.
        _ => !iri.is_some_and(|i| i.starts_with('@')),
    };
    (!canonical).then(|| format!("@context maps {term:?} to {}", iri.unwrap_or("nothing")))
}

/// Whether `iri` names the ActivityStreams term `term`: `as:term` (with `as` not redefined in the
/// same context) or the full IRI.
fn is_as_term(context: &Map<String, Value>, iri: &str, term: &str) -> bool {
    let as_ok = context.get("as").is_none_or(|v| v.as_str() == Some(AS_NS));
    iri.strip_prefix(AS_NS) == Some(term) || (as_ok && iri.strip_prefix("as:") == Some(term))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AS: &str = "https://www.w3.org/ns/activitystreams";

    /// Mastodon's own context, as its `ActivityPub::TagManager` and serializers write it.
    fn mastodon_context() -> Value {
        json!([
            AS,
            "https://w3id.org/security/v1",
            {
                "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
                "toot": "http://joinmastodon.org/ns#",
                "featured": { "@id": "toot:featured", "@type": "@id" },
                "featuredTags": { "@id": "toot:featuredTags", "@type": "@id" },
                "alsoKnownAs": { "@id": "as:alsoKnownAs", "@type": "@id" },
                "movedTo": { "@id": "as:movedTo", "@type": "@id" },
                "schema": "http://schema.org#",
                "PropertyValue": "schema:PropertyValue",
                "value": "schema:value",
                "discoverable": "toot:discoverable",
                "suspended": "toot:suspended",
                "memorial": "toot:memorial",
                "indexable": "toot:indexable",
                "attributionDomains": { "@id": "toot:attributionDomains", "@type": "@id" },
                "ostatus": "http://ostatus.org#",
                "atomUri": "ostatus:atomUri",
                "inReplyToAtomUri": "ostatus:inReplyToAtomUri",
                "conversation": "ostatus:conversation",
                "sensitive": "as:sensitive",
                "Hashtag": "as:Hashtag",
                "Emoji": "toot:Emoji",
                "focalPoint": { "@container": "@list", "@id": "toot:focalPoint" },
                "votersCount": "toot:votersCount",
                "blurhash": "toot:blurhash",
                "quote": { "@id": "https://w3id.org/fep/044f#quote", "@type": "@id" },
            }
        ])
    }

    fn activity(context: Value) -> Value {
        json!({ "@context": context, "id": "https://r.example/a/1", "type": "Create",
                "actor": "https://r.example/users/a", "object": { "id": "https://r.example/n/1",
                "type": "Note", "sensitive": false, "tag": [{ "type": "Hashtag", "name": "#x" }] } })
    }

    #[test]
    fn can_read_mastodons_context_and_plain_ones() {
        assert_eq!(trick(&activity(mastodon_context())), None);
        assert_eq!(trick(&activity(json!(AS))), None);
        assert_eq!(
            trick(&activity(
                json!([AS, { "@language": "und", "id": "@id", "type": "@type" }])
            )),
            None
        );
        assert_eq!(
            trick(&activity(
                json!([AS, { "actor": { "@id": "as:actor", "@type": "@id" } }])
            )),
            None
        );
    }

    #[test]
    fn rejects_a_remapped_core_term() {
        for (term, to) in [
            ("actor", json!("https://evil.example/ns#actor")),
            ("object", json!({ "@id": "https://evil.example/ns#object" })),
            ("type", json!("https://evil.example/ns#type")),
            ("id", json!("https://evil.example/ns#id")),
            ("to", json!("as:cc")),
            ("inReplyTo", json!("as:context")),
            ("Delete", json!("as:Create")),
        ] {
            let a = activity(json!([AS, { term: to }]));
            assert!(
                trick(&a).is_some_and(|t| t.contains(&format!("{term:?}"))),
                "{term}: {:?}",
                trick(&a)
            );
        }
        // The `as` prefix redefined, and a keyword alias.
        let a = activity(json!([AS, { "as": "https://evil.example/ns#" }]));
        assert!(trick(&a).is_some());
        let a = activity(json!([AS, { "kind": "@type" }]));
        assert!(trick(&a).is_some());
        // In an embedded object's own context too.
        let mut a = activity(json!(AS));
        a["object"]["@context"] = json!({ "content": "https://evil.example/ns#c" });
        assert!(trick(&a).is_some());
    }

    #[test]
    fn rejects_graph_and_included() {
        for keyword in ["@graph", "@included"] {
            let mut a = activity(json!(AS));
            a[keyword] = json!([{ "id": "https://r.example/x", "type": "Delete" }]);
            assert_eq!(trick(&a), Some(format!("top-level {keyword}")));
        }
    }
}

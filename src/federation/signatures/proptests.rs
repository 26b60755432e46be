//! Property tests: no header a sender can write panics the signature parsers, and whatever they
//! accept stays within the caps (parameters, members, covered names, base size).
//!
//! Each runs `PROPTEST_CASES` cases (256 by default); `scripts/fuzz.sh` runs them for longer.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;

use super::cavage::{parse_params, MAX_CAVAGE_PARAMS};
use super::structured_fields::{self as sf, Limits, Member};
use super::test_support::{at, public_key, FOLLOW, REMOTE_KEY_ID, T0};
use super::{
    parse, verify, KeyIdRules, SignedRequest, MAX_COVERED, MAX_SIGNATURE_HEADER_BYTES,
    MAX_SIGNED_FIELD_BYTES,
};

/// Text made of the pieces signature headers are made of, so that generated input gets past the
/// first byte of the parsers, mixed with arbitrary characters.
fn header_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "sig1",
            "sig2",
            "keyId",
            "keyid",
            "headers",
            "algorithm",
            "signature",
            "created",
            "expires",
            "alg",
            "=",
            "\"",
            "\\",
            "\\\"",
            "(",
            ")",
            ";",
            ",",
            ", ",
            " ",
            "\t",
            ":",
            "?1",
            "?0",
            "*",
            "-",
            ".",
            "1767225600",
            "-1",
            "1.5",
            "AAAA",
            ":AAEC:",
            "\"@method\"",
            "\"@target-uri\"",
            "\"x\"",
            "\"X\"",
            "(request-target)",
            "hs2019",
            "rsa-sha256",
            "\"rsa-v1_5-sha256\"",
            "https://remote.example/users/alice#main-key",
        ])
        .prop_map(str::to_owned),
        "[a-z0-9*_.-]{1,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

/// Extra names a covered list may hold: `x-0`..`x-39` (each carried by the request), their
/// uppercase twins and the required names again, to provoke the cap and the duplicate check.
fn extra_name() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..40u8).prop_map(|i| format!("x-{i}")),
        (0..40u8).prop_map(|i| format!("X-{i}")),
        prop::sample::select(vec!["host", "Date", "digest", "content-digest", "@method"])
            .prop_map(str::to_owned),
    ]
}

/// What each scheme must cover on a POST, then `extra`, shuffled.
fn covered_list(rfc9421: bool) -> impl Strategy<Value = Vec<String>> {
    let required: &[&str] = if rfc9421 {
        &["@method", "@target-uri", "content-digest"]
    } else {
        &["(request-target)", "host", "date", "digest"]
    };
    let required: Vec<String> = required.iter().map(|&n| n.to_owned()).collect();
    prop::collection::vec(extra_name(), 0..40)
        .prop_map(move |extra| [required.clone(), extra].concat())
        .prop_shuffle()
}

/// A cavage `Signature` header covering `names`, with the other parameters plausible.
fn cavage_header(names: &[String], created: i64, expires: i64) -> String {
    format!(
        "keyId=\"{REMOTE_KEY_ID}\",algorithm=\"hs2019\",headers=\"{}\",created={created},\
         expires={expires},signature=\"AAAA\"",
        names.join(" ")
    )
}

/// An RFC 9421 `Signature-Input` covering `names`.
fn rfc9421_input(names: &[String], created: i64, expires: i64) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "sig1=({});keyid=\"{REMOTE_KEY_ID}\";created={created};expires={expires}",
        quoted.join(" ")
    )
}

/// A request's headers: each of a handful of names (the signature-relevant ones among them) with
/// a generated value, some repeated.
fn header_map() -> impl Strategy<Value = HeaderMap> {
    let mut names = super::ONCE_ONLY_HEADERS.to_vec();
    names.extend(["x", "content-type"]);
    let name = prop::sample::select(names);
    let value = prop_oneof![
        header_text().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
        Just(b"Thu, 01 Jan 2026 00:00:00 GMT".to_vec()),
        Just(b"masthead.example".to_vec()),
        Just(b"SHA-256=rfKHzj9Hpgx37cWSiSaizuRvwPZYVUiojU+yFy1ugUQ=".to_vec()),
    ];
    prop::collection::vec((name, value), 0..8).prop_map(|pairs| {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        headers
    })
}

/// What any accepted signature must satisfy, and that the later steps do not panic on it.
fn assert_bounded(signed: &SignedRequest) {
    assert!(signed.bases.len() <= 2);
    assert!(
        signed.base_lines() <= MAX_COVERED + 1,
        "{}",
        signed.base_lines()
    );
    for base in &signed.bases {
        let most = (MAX_COVERED + 1) * (MAX_SIGNED_FIELD_BYTES + MAX_SIGNATURE_HEADER_BYTES);
        assert!(base.len() <= most, "{}", base.len());
    }
    for now in [at(0), at(i64::MAX - T0)] {
        let _ = signed.check_without_key(now, FOLLOW, KeyIdRules::default());
        let _ = verify(signed, &public_key(), FOLLOW, now);
    }
}

fn assert_dictionary_within(members: &sf::Dictionary, limits: Limits) {
    assert!(members.len() <= limits.members);
    for (_, member) in members.iter() {
        match member {
            Member::Item(item) => assert!(item.params.len() <= limits.params),
            Member::InnerList { items, params, .. } => {
                assert!(items.len() <= limits.items);
                assert!(params.len() <= limits.params);
                for item in items {
                    assert!(item.params.len() <= limits.params);
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn can_survive_arbitrary_cavage_parameters(raw in header_text()) {
        if let Ok(params) = parse_params(&raw) {
            prop_assert!(params.len() <= MAX_CAVAGE_PARAMS);
        }
    }

    #[test]
    fn can_survive_arbitrary_structured_fields(raw in header_text()) {
        if let Ok(members) = sf::parse_dictionary(&raw) {
            assert_dictionary_within(&members, Limits::SIGNATURES);
            for (_, member) in members.iter() {
                if let Member::InnerList { raw: inner, .. } = member {
                    prop_assert!(raw.contains(inner.as_str()));
                }
            }
        }
    }

    #[test]
    fn can_keep_structured_fields_within_small_limits(
        raw in header_text(),
        members in 0usize..4,
        params in 0usize..4,
        items in 0usize..4,
    ) {
        let limits = Limits { members, params, items };
        if let Ok(parsed) = sf::parse_dictionary_with(&raw, limits) {
            assert_dictionary_within(&parsed, limits);
        }
    }

    #[test]
    fn can_survive_arbitrary_header_maps(
        headers in header_map(),
        post in any::<bool>(),
        target in prop::sample::select(vec!["/users/news/inbox", "/users/news?page=1", "", "?"]),
    ) {
        let method = if post { Method::POST } else { Method::GET };
        if let Ok(signed) = parse(&method, target, &headers) {
            assert_bounded(&signed);
        }
    }

    #[test]
    fn can_refuse_any_covered_list_past_the_cap_or_with_a_repeat(
        (rfc9421, names) in any::<bool>().prop_flat_map(|r| (Just(r), covered_list(r))),
        created in prop_oneof![Just(T0), any::<i64>()],
        expires in prop_oneof![Just(T0 + 60), any::<i64>()],
    ) {
        let mut headers = HeaderMap::new();
        for i in 0..40 {
            headers.insert(
                HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        for (name, value) in [
            ("host", "masthead.example"),
            ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
            ("digest", "SHA-256=rfKHzj9Hpgx37cWSiSaizuRvwPZYVUiojU+yFy1ugUQ="),
            ("content-digest", "sha-256=:rfKHzj9Hpgx37cWSiSaizuRvwPZYVUiojU+yFy1ugUQ=:"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if rfc9421 {
            let input = rfc9421_input(&names, created, expires);
            headers.insert("signature-input", input.parse().unwrap());
            headers.insert("signature", HeaderValue::from_static("sig1=:AAAA:"));
        } else {
            let signature = cavage_header(&names, created, expires);
            headers.insert("signature", signature.parse().unwrap());
        }
        let mut lowercase: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        lowercase.sort();
        lowercase.dedup();
        let acceptable = names.len() <= MAX_COVERED && lowercase.len() == names.len();
        if let Ok(signed) = parse(&Method::POST, "/users/news/inbox", &headers) {
            prop_assert!(acceptable, "accepted {names:?}");
            assert_bounded(&signed);
        }
    }
}

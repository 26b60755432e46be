//! Micro-benchmarks of the work every delivery, inbox POST and post costs (`cargo bench --bench
//! core`; `scripts/bench.sh micro` folds the figures into its table). Each group has its
//! baseline beside it:
//!
//! - `sign`: ring's RSA-2048 PKCS#1 v1.5 SHA-256 signature of a signing string (issue 10's
//!   baseline), the same with AWS-LC (the signer masthead uses), and masthead's `sign_request` of
//!   a 1 KB POST (digest, Date, Host and the draft-cavage Signature header built around an AWS-LC
//!   signature);
//! - `verify`: ring's RSA-2048 verification of a signature base (masthead verifies with AWS-LC,
//!   about as fast), and masthead's verifiers end to
//!   end (`parse` then `verify`: the headers read and checked, the base rebuilt, the digest of
//!   the body checked, the RSA verified) over the openssl-signed fixtures of
//!   tests/fixtures/signatures, a draft-cavage POST and an RFC 9421 POST as Fedify sends it;
//! - `render`: a typical post (front matter, three paragraphs, a list, a link, a hashtag, a
//!   mention) read from its file to a `Post` (front matter, Markdown, sanitized HTML, hashes),
//!   then served as its Note JSON; and the Markdown to HTML step alone;
//! - `serve`: that post's HTML page built, and the ETag of the page (`http::cache::etag`, which
//!   every 200 GET pays on top of building its body).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, Method};
use masthead::catalog::PostRecord;
use masthead::config::Site;
use masthead::content::render::{render, RenderContext};
use masthead::content::{self, MediaRules};
use masthead::federation::objects::{self, Counts};
use masthead::federation::signatures::{self, PublicKey, SigningKey};
use masthead::http::{cache, pages};
use masthead::urls::Urls;
use ring::signature::{
    RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// The fixtures' signatures were made at 2026-01-01T00:00:00Z; they are checked 10 s later.
const T0: u64 = 1_767_225_600;
const REMOTE_KEY_ID: &str = "https://remote.example/users/alice#main-key";
const INBOX: &str = "/users/news/inbox";

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn sign(c: &mut Criterion) {
    let pem = fixture("keys/test-actor.pem");
    let pair = RsaKeyPair::from_pkcs8(&pem_der(&pem)).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let base = fixture("signatures/cavage-post.txt");
    let key =
        SigningKey::from_pkcs8_pem("https://masthead.example/users/news#main-key", &pem).unwrap();
    let url = url::Url::parse("https://remote.example/users/alice/inbox").unwrap();
    let body = vec![b'x'; 1024];
    let mut g = c.benchmark_group("sign");
    g.bench_function("ring_rsa2048", |b| {
        let mut out = vec![0; pair.public().modulus_len()];
        b.iter(|| {
            pair.sign(&RSA_PKCS1_SHA256, &rng, base.as_bytes(), &mut out)
                .unwrap()
        })
    });
    g.bench_function("aws_lc_rsa2048", |b| {
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&pem_der(&pem)).unwrap();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut out = vec![0; pair.public_modulus_len()];
        b.iter(|| {
            pair.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                base.as_bytes(),
                &mut out,
            )
            .unwrap()
        })
    });
    g.bench_function("sign_request_1kb_post", |b| {
        b.iter_batched_ref(
            HeaderMap::new,
            |h| {
                signatures::sign_request(
                    &key,
                    &Method::POST,
                    &url,
                    h,
                    Some(&body),
                    SystemTime::now(),
                )
                .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    let key = PublicKey::from_pem(&fixture("keys/test-actor.pub.pem")).unwrap();
    let spki = pem_der(&fixture("keys/test-actor.rsa-pub.pem"));
    let follow = std::fs::read(format!("{FIXTURES}/signatures/follow.json")).unwrap();
    let digest = STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, &follow));
    let now = UNIX_EPOCH + Duration::from_secs(T0 + 10);
    let date = "Thu, 01 Jan 2026 00:00:00 GMT".to_string();

    let cavage_base = fixture("signatures/cavage-post.txt");
    let cavage_sig = fixture("signatures/cavage-post.sig").trim().to_string();
    let cavage = headers(&[
        ("host", "masthead.example".into()),
        ("date", date.clone()),
        ("digest", format!("SHA-256={digest}")),
        ("content-type", "application/activity+json".into()),
        (
            "signature",
            format!(
                "keyId=\"{REMOTE_KEY_ID}\",algorithm=\"rsa-sha256\",\
                 headers=\"(request-target) host date digest content-type\",\
                 signature=\"{cavage_sig}\""
            ),
        ),
    ]);
    let rfc9421_sig = fixture("signatures/rfc9421-post.sig").trim().to_string();
    let rfc9421 = headers(&[
        ("host", "masthead.example".into()),
        ("date", date),
        ("content-type", "application/activity+json".into()),
        ("content-digest", format!("sha-256=:{digest}:")),
        (
            "signature-input",
            format!(
                "sig1=(\"@method\" \"@target-uri\" \"@authority\" \"host\" \"date\" \
                 \"content-digest\");alg=\"rsa-v1_5-sha256\";keyid=\"{REMOTE_KEY_ID}\";\
                 created=1767225600"
            ),
        ),
        ("signature", format!("sig1=:{rfc9421_sig}:")),
    ]);
    // The benchmarks below must measure a success, not an early refusal.
    for h in [&cavage, &rfc9421] {
        let signed = signatures::parse(&Method::POST, INBOX, h).unwrap();
        signatures::verify(&signed, &key, &follow, now).unwrap();
    }

    let mut g = c.benchmark_group("verify");
    g.bench_function("ring_rsa2048", |b| {
        let raw = STANDARD.decode(&cavage_sig).unwrap();
        let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki);
        b.iter(|| verifier.verify(cavage_base.as_bytes(), &raw).unwrap())
    });
    for (name, h) in [("cavage_post", &cavage), ("rfc9421_post", &rfc9421)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let signed = signatures::parse(&Method::POST, INBOX, h).unwrap();
                signatures::verify(&signed, &key, &follow, now).unwrap()
            })
        });
    }
    g.finish();
}

/// A typical brand post: about 900 characters, a list, a link, a hashtag and a mention.
const POST: &str = "+++\ntitle = \"Roadworks on Mill Lane\"\ndate = 2026-03-02T09:00:00Z\n\
tags = [\"roadworks\"]\n+++\n\n\
Mill Lane is closed between the bridge and the school **from Monday 9 March** while the water \
main is replaced. Buses 4 and 12 are diverted along the Quay; the stop outside the library moves \
to Station Road. See [the diversion map](https://riverton.example/roadworks/mill-lane) for \
details.\n\n\
- When: 9 to 27 March, 7:30 to 18:00\n- Where: Mill Lane, bridge to school\n\
- Who to ask: the works line, 0100 000 001\n\n\
Residents keep access to their driveways; deliveries go through Orchard Street. Thanks to \
@engineer@works.example for the plan, and sorry for the noise. #Riverton\n";

fn rendering(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("content/council")).unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        "[site]\nbase_url = \"https://social.riverton.example\"\n\n\
         [[actor]]\nhandle = \"council\"\nname = \"Riverton Town Council\"\n",
    )
    .unwrap();
    let file = dir.path().join("content/council/mill-lane.md");
    std::fs::write(&file, POST).unwrap();
    let site = Site::load(&dir.path().join("site.toml")).unwrap().site;
    let urls = Urls::new(&site);
    let actor = site.actor("council").unwrap().clone();
    let sources = [PathBuf::from("content/council/mill-lane.md")];
    let no_cache = |_: &std::path::Path, _: &str| None;
    let first_seen = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .unwrap()
        .into();

    let mut g = c.benchmark_group("render");
    g.bench_function("post_file_to_note_json", |b| {
        b.iter(|| {
            let mut library = content::scan_paths(&site, &urls, &sources, &no_cache);
            assert_eq!(library.posts.len(), 1, "{:?}", library.diagnostics);
            let record = PostRecord {
                post: Arc::new(library.posts.pop().unwrap()),
                first_seen,
                addressees: Vec::new(),
                bodies: None,
            };
            let parts = objects::PostParts {
                site: &site,
                urls: &urls,
                actor: &actor,
                record: &record,
                counts: Counts::default(),
            };
            let note = objects::post_object(&parts, false);
            serde_json::to_vec(&note).unwrap()
        })
    });
    let body = POST.split_once("+++\n\n").unwrap().1;
    let media = MediaRules::for_site(&site);
    let post_url = urls.post("council", "mill-lane");
    let ctx = RenderContext {
        urls: &urls,
        media: &media,
        source: &sources[0],
        body_line: 6,
        post_url: &post_url,
    };
    assert!(!render(body, &ctx).has_errors());
    g.bench_function("markdown_to_html", |b| b.iter(|| render(body, &ctx)));
    g.finish();

    // What every page GET costs on top of building its body: the ETag of that body.
    let mut library = content::scan_paths(&site, &urls, &sources, &no_cache);
    let record = PostRecord {
        post: Arc::new(library.posts.pop().unwrap()),
        first_seen,
        addressees: Vec::new(),
        bodies: None,
    };
    let page = || pages::post(&site, &urls, &actor, &record, Counts::default(), &[], None);
    let html = page();
    let mut g = c.benchmark_group("serve");
    g.bench_function("post_page_html", |b| b.iter(page));
    g.bench_function("post_page_etag", |b| {
        b.iter(|| cache::etag(html.as_bytes()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = sign, verify, rendering
}
criterion_main!(benches);

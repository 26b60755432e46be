//! A warm plugin call through the real host: a trivial plugin (the cost of the boundary and the
//! chain) and the keyword filter on a 1 KB reply, beside the same rule in native Rust in the same
//! run; and a plugin written in Python (plugins/python/no-shouting, built with componentize-py
//! from `$MASTHEAD_PYTHON`'s venv) on the same reply. `cargo bench --bench plugins`
//! (scripts/test.sh never runs it).

#[path = "../tests/common/plugins.rs"]
mod built;
// The SDK's phrase matching is plain std: the same code runs here natively.
#[allow(dead_code)]
#[path = "../plugins/sdk/src/phrases.rs"]
mod phrases;

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use masthead::clock::Clock;
use masthead::config::Plugin;
use masthead::plugins::model::{Note, NoteKind, RemoteActor, Visibility};
use masthead::plugins::{Event, Host, HostOptions, Limits, NoPosts, Verdict};
use masthead::store::Store;
use phrases::Phrases;
use serde_json::json;

fn host(crate_name: &str, config: serde_json::Value) -> Host {
    host_at(crate_name, built::wasm(crate_name), config)
}

fn host_at(name: &str, path: std::path::PathBuf, config: serde_json::Value) -> Host {
    let plugin = Plugin::new(name, path, config);
    let options = HostOptions {
        cache_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plugin-cache"),
        limits: Limits::default(),
        seed: Some(1),
        build: false,
    };
    let (host, problems) = Host::load_plugins(
        &[plugin],
        Path::new("site.toml"),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(NoPosts),
        Clock::system(),
        options,
    );
    assert!(problems.is_empty(), "{problems:?}");
    host
}

/// A 1 KB reply that matches none of the words (the whole text is scanned).
fn reply_1kb() -> Event {
    let sentence = "Thank you for the update on the roadworks, will the bus stop move as well? ";
    let text: String = sentence.repeat(1024 / sentence.len() + 1)[..1024].to_string();
    Event::Note {
        actor: RemoteActor {
            id: "https://r.example/users/alice".into(),
            domain: "r.example".into(),
            ..Default::default()
        },
        target: "news".into(),
        kind: NoteKind::Reply,
        note: Note {
            id: "https://r.example/notes/1".into(),
            html: format!("<p>{text}</p>"),
            text,
            visibility: Visibility::Public,
            published: "2026-11-20T09:00:00Z".into(),
            ..Default::default()
        },
    }
}

const WORDS: [&str; 4] = ["casino", "crypto giveaway", "free money", "click here"];

fn bench(c: &mut Criterion) {
    let event = reply_1kb();
    let trivial = host("fixture-trivial", json!({}));
    let filter = host("keyword-filter", json!({ "words": WORDS }));
    assert_eq!(filter.judge_event(&event).verdict, Verdict::Accept);
    let python = host_at("no-shouting", built::python("no-shouting"), json!({}));
    assert_eq!(python.judge_event(&event).verdict, Verdict::Accept);
    // The keyword filter's rule in native Rust: the SDK's own `Phrases`, which the plugin calls.
    let words = Phrases::new(WORDS);
    let Event::Note { note, .. } = &event else {
        unreachable!()
    };
    let mut group = c.benchmark_group("plugin call, 1 KB reply");
    group.bench_function("trivial plugin (warm)", |b| {
        b.iter(|| trivial.judge_event(std::hint::black_box(&event)))
    });
    group.bench_function("keyword filter plugin (warm)", |b| {
        b.iter(|| filter.judge_event(std::hint::black_box(&event)))
    });
    group.bench_function("keyword filter, native Rust", |b| {
        b.iter(|| words.find(std::hint::black_box(&note.text)))
    });
    group.bench_function("no-shouting Python plugin (warm)", |b| {
        b.iter(|| python.judge_event(std::hint::black_box(&event)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

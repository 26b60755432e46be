//! The plugin host through the real wasmtime host and the real components of `plugins/`: the
//! example plugins, the chain (first reject wins, holds accumulate, actions after the verdict,
//! shadow mode, grants), misbehaving plugins contained by their `on_error`, config checked
//! against each plugin's schema, and hot reload.
//!
//! Components are built once per process (`common::plugins`) and compiled once per machine
//! (the cache in `target/plugin-cache`, shared through `MASTHEAD_PLUGIN_CACHE`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use masthead::clock::Clock;
use masthead::config::{Grant, Mode, OnError, Plugin};
use masthead::plugins::model::{Note, NoteKind, ReactionKind, RemoteActor, Visibility};
use masthead::plugins::{
    Event, Host, HostOptions, Limits, NoPosts, OutgoingPost, Rewrite, Verdict,
};
use masthead::store::Store;
use serde_json::json;

const T0: i64 = 1_795_000_000_000;

fn cache_dir() -> PathBuf {
    std::env::var_os("MASTHEAD_PLUGIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plugin-cache"))
}

fn plugin(name: &str, crate_name: &str, config: serde_json::Value) -> Plugin {
    Plugin::new(name, common::plugins::wasm(crate_name), config)
}

fn options() -> HostOptions {
    HostOptions {
        cache_dir: cache_dir(),
        limits: Limits::default(),
        seed: Some(7),
        build: false,
    }
}

/// A host of `plugins` on a fresh store and a manual clock at `T0`, and the problems loading
/// them, as the operator reads them.
fn load(plugins: &[Plugin]) -> (Host, Clock, Vec<String>) {
    let clock = Clock::manual(T0);
    let store = Arc::new(Store::open_in_memory().unwrap());
    let (host, problems) = Host::load_plugins(
        plugins,
        Path::new("site.toml"),
        store,
        Arc::new(NoPosts),
        clock.clone(),
        options(),
    );
    let problems = problems.iter().map(ToString::to_string).collect();
    (host, clock, problems)
}

/// A host of `plugins` that all loaded, and its clock.
fn start_host(plugins: &[Plugin]) -> (Host, Clock) {
    let (host, clock, problems) = load(plugins);
    assert!(problems.is_empty(), "{problems:?}");
    (host, clock)
}

/// What the host reports when loading `p`.
fn load_problems(p: Plugin) -> Vec<String> {
    load(&[p]).2
}

fn actor(id: &str) -> RemoteActor {
    RemoteActor {
        id: id.into(),
        domain: url::Url::parse(id).unwrap().host_str().unwrap().into(),
        ..Default::default()
    }
}

fn reply_by(author: &str, text: &str) -> Event {
    Event::Note {
        actor: actor(author),
        target: "news".into(),
        kind: NoteKind::Reply,
        note: Note {
            id: format!("{author}/notes/{}", text.len()),
            text: text.into(),
            html: format!("<p>{text}</p>"),
            visibility: Visibility::Public,
            in_reply_to: Some("https://s.example/users/news/posts/hello".into()),
            published: "2026-11-20T09:00:00Z".into(),
            ..Default::default()
        },
    }
}

fn reply(text: &str) -> Event {
    reply_by("https://r.example/users/alice", text)
}

fn keywords(action: &str) -> serde_json::Value {
    json!({ "words": ["casino", "crypto giveaway"], "action": action })
}

fn faq() -> Plugin {
    let mut p = plugin(
        "faq",
        "auto-reply",
        json!({ "rules": [
            { "keywords": ["opening hours", "horaires"], "reply": "Open 8:30-17:00." },
            { "keywords": ["hours"], "reply": "Never reached for opening hours." },
        ]}),
    );
    p.grants = vec![Grant::Reply];
    p
}

#[test]
fn can_hold_reject_or_hide_a_reply_by_whole_words() {
    for (action, want) in [
        ("hold", Verdict::Hold("contains \"casino\"".into())),
        ("reject", Verdict::Reject("contains \"casino\"".into())),
        ("hide", Verdict::Hide("contains \"casino\"".into())),
    ] {
        let (host, _) = start_host(&[plugin("spam-words", "keyword-filter", keywords(action))]);
        let j = host.judge_event(&reply("Visit our CASINO today!"));
        assert_eq!(j.verdict, want, "{action}");
        assert_eq!(j.by, ["spam-words"]);
    }
    let (host, _) = start_host(&[plugin("spam-words", "keyword-filter", keywords("hold"))]);
    for fine in [
        "casinos are closed",
        "crypto is not a giveaway",
        "nothing here",
    ] {
        assert_eq!(
            host.judge_event(&reply(fine)).verdict,
            Verdict::Accept,
            "{fine}"
        );
    }
    assert_eq!(
        host.judge_event(&reply("a Crypto   giveaway, really"))
            .verdict,
        Verdict::Hold("contains \"crypto giveaway\"".into())
    );
}

#[test]
fn can_answer_a_question_once_per_conversation_per_person() {
    let (host, clock) = start_host(&[faq()]);
    let question = reply("What are your opening hours?");
    let j = host.judge_event(&question);
    assert_eq!(j.verdict, Verdict::Accept);
    assert_eq!(
        j.replies,
        [("faq".to_string(), "Open 8:30-17:00.".to_string())]
    );
    // Asked again in the same conversation: no second answer.
    assert!(host.judge_event(&question).replies.is_empty());
    assert!(host.judge_event(&reply("horaires ?")).replies.is_empty());
    // Someone else asking gets the answer.
    let bob = reply_by("https://r.example/users/bob", "opening hours please");
    assert_eq!(host.judge_event(&bob).replies.len(), 1);
    // The memory lasts 90 days by the server's clock.
    clock.advance(Duration::from_secs(91 * 24 * 3600));
    assert_eq!(host.judge_event(&question).replies.len(), 1);
    // No rule matches: no answer.
    assert!(host.judge_event(&reply("nice post")).replies.is_empty());
}

#[test]
fn can_drop_an_answer_when_a_later_plugin_rejects_the_question() {
    let (host, _) = start_host(&[
        faq(),
        plugin("spam-words", "keyword-filter", keywords("reject")),
    ]);
    let j = host.judge_event(&reply("opening hours of the casino?"));
    assert_eq!(j.verdict, Verdict::Reject("contains \"casino\"".into()));
    assert!(j.replies.is_empty() && j.labels.is_empty());
    // Held rather than rejected: still no answer before a person has seen it.
    let (host, _) = start_host(&[
        faq(),
        plugin("spam-words", "keyword-filter", keywords("hold")),
    ]);
    let j = host.judge_event(&reply("opening hours of the casino?"));
    assert!(matches!(j.verdict, Verdict::Hold(_)));
    assert!(j.replies.is_empty());
}

#[test]
fn can_accumulate_holds_and_stop_at_the_first_reject() {
    let hold = |name: &str| plugin(name, "keyword-filter", json!({ "words": ["casino"] }));
    let (host, _) = start_host(&[
        hold("a"),
        hold("b"),
        plugin(
            "c",
            "keyword-filter",
            json!({ "words": ["casino"], "action": "reject" }),
        ),
        plugin("d", "fixture-trap", json!({})),
    ]);
    let j = host.judge_event(&reply("casino"));
    assert_eq!(j.verdict, Verdict::Reject("contains \"casino\"".into()));
    assert_eq!(j.by, ["c"]);
    let (host, _) = start_host(&[hold("a"), hold("b")]);
    let j = host.judge_event(&reply("casino"));
    assert_eq!(
        j.verdict,
        Verdict::Hold("contains \"casino\"; contains \"casino\"".into())
    );
    assert_eq!(j.by, ["a", "b"]);
}

#[test]
fn refuses_a_reply_without_the_grant_but_keeps_its_labels() {
    let (host, _) = start_host(&[plugin("sneaky", "fixture-sneaky", json!({}))]);
    let j = host.judge_event(&reply("hello"));
    assert_eq!(j.verdict, Verdict::Accept);
    assert!(j.replies.is_empty());
    assert_eq!(j.labels.len(), 2);
    let mut granted = plugin("sneaky", "fixture-sneaky", json!({}));
    granted.grants = vec![Grant::Reply];
    let (host, _) = start_host(&[granted]);
    assert_eq!(host.judge_event(&reply("hello")).replies.len(), 1);
}

#[test]
fn can_give_plugins_the_servers_clock_and_a_seeded_random_source() {
    let (host, clock) = start_host(&[plugin("sneaky", "fixture-sneaky", json!({}))]);
    let labels = |h: &Host| -> Vec<String> {
        h.judge_event(&reply("hello"))
            .labels
            .into_iter()
            .map(|(_, l)| l)
            .collect()
    };
    let first = labels(&host);
    assert_eq!(first[0], format!("now={}", T0 / 1000));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(labels(&host)[0], format!("now={}", T0 / 1000 + 3600));
    // The same seed gives the same random source in another host.
    let (other, _) = start_host(&[plugin("sneaky", "fixture-sneaky", json!({}))]);
    assert_eq!(labels(&other)[1], first[1]);
}

#[test]
fn can_log_a_shadow_plugins_decision_without_applying_it() {
    let mut shadow = plugin("spam-words", "keyword-filter", keywords("reject"));
    shadow.mode = Mode::Shadow;
    let (host, _) = start_host(&[shadow]);
    assert_eq!(host.judge_event(&reply("casino")).verdict, Verdict::Accept);
}

#[test]
fn can_judge_only_the_actors_a_plugin_is_given() {
    let mut p = plugin("spam-words", "keyword-filter", keywords("reject"));
    p.actors = Some(vec!["other".into()]);
    let (host, _) = start_host(&[p]);
    assert_eq!(host.judge_event(&reply("casino")).verdict, Verdict::Accept);
}

/// What each misbehaving fixture gets, by default and with each `on_error`.
#[test]
fn contains_misbehaving_plugins_with_their_on_error_policy() {
    let cases = [
        ("fixture-trap", "fixture: trap on note"),
        ("fixture-spin", "timed out after 50ms"),
        ("fixture-hog", "memory"),
        ("fixture-huge", "answer too large"),
    ];
    for (fixture, says) in cases {
        let (host, _) = start_host(&[plugin("bad", fixture, json!({}))]);
        let started = Instant::now();
        let j = host.judge_event(&reply("hello"));
        let Verdict::Hold(reason) = &j.verdict else {
            panic!("{fixture}: {:?}", j.verdict)
        };
        assert!(reason.starts_with("plugin bad failed: "), "{reason}");
        assert!(reason.contains(says), "{fixture}: {reason}");
        assert!(j.labels.is_empty() && j.replies.is_empty());
        // The deadline holds a runaway plugin to about 50 ms (the bound is loose: a busy CI
        // machine may be slow to switch threads, never minutes).
        assert!(started.elapsed() < Duration::from_secs(5), "{fixture}");
        // And the host keeps working: the next call runs again on a fresh instance.
        assert!(matches!(
            host.judge_event(&reply("again")).verdict,
            Verdict::Hold(_)
        ));
    }
    for (policy, want) in [(OnError::Accept, "accept"), (OnError::Reject, "reject")] {
        let mut p = plugin("bad", "fixture-trap", json!({}));
        p.on_error = Some(policy);
        let (host, _) = start_host(&[p]);
        let got = host.judge_event(&reply("hello")).verdict;
        match want {
            "accept" => assert_eq!(got, Verdict::Accept),
            _ => assert!(matches!(got, Verdict::Reject(_)), "{got:?}"),
        }
    }
    // Defaults per kind of event: a follow is held, a like counted, a post held back.
    let (host, _) = start_host(&[plugin("bad", "fixture-trap", json!({}))]);
    let follow = Event::Follow {
        actor: actor("https://r.example/users/alice"),
        target: "news".into(),
    };
    assert!(matches!(
        host.judge_event(&follow).verdict,
        Verdict::Hold(_)
    ));
    let like = Event::Reaction {
        actor: actor("https://r.example/users/alice"),
        target: "news".into(),
        kind: ReactionKind::Like,
        post: None,
        comment: None,
        objects: vec![],
    };
    assert_eq!(host.judge_event(&like).verdict, Verdict::Accept);
    let d = host.outgoing(&outgoing(&[], "Hello"));
    assert!(d.veto.unwrap().starts_with("plugin bad failed: trapped"));
}

/// Starting an instance (instantiating it and asking its config schema, where a plugin reads
/// its config) has a budget of its own, larger than a call's, and still a bound: a plugin that
/// loops while it starts does not load, and says why.
#[test]
fn errors_when_a_plugin_never_finishes_starting() {
    let started = Instant::now();
    let shown = load_problems(plugin("bad", "fixture-spin", json!({ "at_start": true })));
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with("site.toml:1: plugin \"bad\": bad@")
            && shown[0].ends_with(
                ": config-schema failed: timed out after 1s starting (instantiating and answering config-schema)"
            ),
        "{shown:?}"
    );
    // About a second of CPU; the wall-time ceiling is ten (loose: a busy CI machine).
    assert!(started.elapsed() < Duration::from_secs(20));
}

fn outgoing(hashtags: &[&str], markdown: &str) -> OutgoingPost {
    OutgoingPost {
        actor: "news".into(),
        slug: "vote".into(),
        markdown: markdown.into(),
        hashtags: hashtags.iter().map(|t| t.to_string()).collect(),
        language: "en".into(),
        ..Default::default()
    }
}

fn content_warning() -> Plugin {
    plugin(
        "cw",
        "content-warning",
        json!({ "rules": [
            { "tags": ["#Politics", "elections"], "warning": "Politics" },
            { "tags": ["newsroom"], "warning": "Internal" },
        ]}),
    )
}

#[test]
fn can_put_posts_with_a_tag_of_a_rule_behind_a_content_warning() {
    let (host, _) = start_host(&[content_warning()]);
    // Any case, with or without `#` in the config; the first rule with a tag of the post wins.
    let d = host.outgoing(&outgoing(&["Elections", "newsroom"], "Polls open at 8."));
    assert_eq!(d.veto, None);
    assert_eq!(d.post.content_warning.as_deref(), Some("Politics"));
    assert_eq!(d.by, ["cw"]);
    assert_eq!(d.post.markdown, "Polls open at 8.");
    // No tag of a rule: nothing changes, nobody is named.
    let d = host.outgoing(&outgoing(&["weather"], "Sunny."));
    assert_eq!(d.post, outgoing(&["weather"], "Sunny."));
    assert!(d.by.is_empty());
    // The author's own warning is kept.
    let mut own = outgoing(&["politics"], "Polls open at 8.");
    own.content_warning = Some("Vote".into());
    assert_eq!(
        host.outgoing(&own).post.content_warning.as_deref(),
        Some("Vote")
    );
    // Each plugin sees the post as the ones before left it: the editor's hashtag triggers a
    // rule of the content warning that runs after it; its veto stops the chain.
    let (host, _) = start_host(&[
        plugin("editor", "fixture-editor", json!({})),
        content_warning(),
    ]);
    let d = host.outgoing(&outgoing(&[], "The tram opens. {{signature}}"));
    assert_eq!(d.post.markdown, "The tram opens. *The newsroom*");
    assert_eq!(d.post.hashtags, ["newsroom"]);
    assert_eq!(d.post.content_warning.as_deref(), Some("Internal"));
    assert_eq!(d.by, ["editor", "cw"]);
    let d = host.outgoing(&outgoing(&["politics"], "[embargo] Results."));
    assert_eq!(
        d.veto.as_deref(),
        Some("embargoed until the press conference")
    );
    assert_eq!(d.by, ["editor"]);
    assert_eq!(d.post.content_warning, None);
}

#[test]
fn rejects_a_content_warning_rule_without_a_warning() {
    let text = load_problems(plugin(
        "cw",
        "content-warning",
        json!({ "rules": [{ "tags": ["politics"], "warnings": "Politics" }] }),
    ));
    assert!(
        text.iter()
            .any(|p| p.contains("warnings") && p.contains("warning")),
        "{text:?}"
    );
}

fn router() -> Plugin {
    plugin(
        "router",
        "reply-router",
        json!({ "routes": [
            { "label": "support", "keywords": ["not working", "broken"], "hold": true,
              "note": "Answer from the help desk within a day." },
            { "label": "complaint", "keywords": ["disappointed", "unacceptable"] },
        ]}),
    )
}

#[test]
fn can_route_support_requests_and_complaints() {
    let (host, _) = start_host(&[router()]);
    // A support request: labelled, the route's note attached, held with the keyword named.
    let j = host.judge_event(&reply("The booking form is NOT working since Monday"));
    assert_eq!(
        j.verdict,
        Verdict::Hold("looks like support (\"not working\")".into())
    );
    assert_eq!(j.by, ["router"]);
    assert_eq!(j.labels, [("router".into(), "support".into())]);
    assert_eq!(
        j.notes,
        [(
            "router".into(),
            "Answer from the help desk within a day.".into()
        )]
    );
    // A complaint: labelled and kept in sight (its route does not hold).
    let j = host.judge_event(&reply("Honestly disappointed by the new timetable."));
    assert_eq!(j.verdict, Verdict::Accept);
    assert_eq!(j.labels, [("router".into(), "complaint".into())]);
    assert!(j.notes.is_empty());
    // Both at once: both labels, held for the support route.
    let j = host.judge_event(&reply("Unacceptable: the site is broken again"));
    assert_eq!(
        j.verdict,
        Verdict::Hold("looks like support (\"broken\")".into())
    );
    let labels: Vec<&str> = j.labels.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(labels, ["support", "complaint"]);
    // Whole words only, and a plain thank-you is left alone.
    for text in ["Brokenness is a theme of the poem", "Thanks, lovely post!"] {
        let j = host.judge_event(&reply(text));
        assert_eq!(j.verdict, Verdict::Accept, "{text}");
        assert!(j.labels.is_empty(), "{text}");
    }
    // Held by the router, the question gets no auto-reply from the FAQ after it.
    let (host, _) = start_host(&[router(), faq()]);
    let j = host.judge_event(&reply("opening hours? the page is broken"));
    assert!(matches!(j.verdict, Verdict::Hold(_)));
    assert!(j.replies.is_empty());
}

#[test]
fn errors_when_a_plugin_imports_what_masthead_does_not_offer() {
    let (host, _, shown) = load(&[plugin("phone-home", "fixture-wants-http", json!({}))]);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with("site.toml:1: plugin \"phone-home\": ")
            && shown[0].contains("imports wasi:http/client@0.2.0, which masthead does not offer"),
        "{shown:?}"
    );
    // Not loaded: its on_error applies to what it would judge.
    assert!(
        matches!(host.judge_event(&reply("hi")).verdict, Verdict::Hold(r) if r.contains("not loaded"))
    );
}

#[test]
fn rejects_a_config_that_does_not_match_the_plugins_schema() {
    let mut p = plugin(
        "spam-words",
        "keyword-filter",
        json!({ "wrods": ["casino"], "action": 1 }),
    );
    p.config_lines = [("wrods".to_string(), 12), ("action".to_string(), 13)].into();
    p.config_line = Some(11);
    let shown = load_problems(p);
    assert_eq!(
        shown,
        [
            "site.toml:11: plugin \"spam-words\": [plugin.config] has no `words` (add it: a list of strings; words or phrases to catch, case-insensitive, whole words)",
            "site.toml:12: plugin \"spam-words\": unknown key `wrods` in [plugin.config] (did you mean `words`?)",
            "site.toml:13: plugin \"spam-words\": config.action must be a string, got number `1` (what to do with a match: hold (default), reject or hide)",
        ]
    );
}

#[test]
fn can_reload_a_changed_component_and_keep_the_previous_one_when_the_new_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("filter.wasm");
    std::fs::copy(common::plugins::wasm("fixture-trivial"), &wasm).unwrap();
    let mut p = plugin("filter", "fixture-trivial", keywords("reject"));
    p.path = wasm.clone();
    // The trivial plugin takes no config: load it with none first.
    p.config = json!({});
    let (host, _) = start_host(std::slice::from_ref(&p));
    assert_eq!(host.judge_event(&reply("casino")).verdict, Verdict::Accept);

    // A new component (and its config) at the same path is picked up.
    std::fs::copy(common::plugins::wasm("keyword-filter"), &wasm).unwrap();
    touch(&wasm, 10);
    p.config = keywords("reject");
    let mut site = site_with(&[p.clone()]);
    assert!(host.reload(&site).is_empty());
    assert!(matches!(
        host.judge_event(&reply("casino")).verdict,
        Verdict::Reject(_)
    ));
    // Nothing changed: nothing reloaded, still working.
    assert!(host.reload(&site).is_empty());

    // A broken one is reported; the previous version keeps judging.
    std::fs::write(&wasm, b"not wasm at all").unwrap();
    touch(&wasm, 20);
    let problems = host.reload(&site);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .message
            .contains("is not a WebAssembly component"),
        "{:?}",
        problems[0]
    );
    assert!(matches!(
        host.judge_event(&reply("casino")).verdict,
        Verdict::Reject(_)
    ));
    assert_eq!(host.problems().len(), 1);

    // A config the plugin refuses is reported the same way.
    std::fs::copy(common::plugins::wasm("keyword-filter"), &wasm).unwrap();
    touch(&wasm, 30);
    site.plugins[0].config = json!({ "words": "casino" });
    assert_eq!(host.reload(&site).len(), 1);
    assert!(matches!(
        host.judge_event(&reply("casino")).verdict,
        Verdict::Reject(_)
    ));
}

/// A site holding `plugins` (only its plugins matter to `Host::reload`).
fn site_with(plugins: &[Plugin]) -> masthead::config::Site {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
    let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n";
    let mut site = masthead::config::Site::parse(&dir.path().join("site.toml"), text)
        .unwrap()
        .site;
    site.config_path = PathBuf::from("site.toml");
    site.plugins = plugins.to_vec();
    site
}

/// Sets `path`'s modification time `secs` into the future (a copy within the same second must
/// still count as a change).
fn touch(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn can_run_every_sample_event_of_the_sdk() {
    let (host, _) = start_host(&[
        plugin("spam-words", "keyword-filter", keywords("hold")),
        faq(),
    ]);
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk/events");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(events).unwrap() {
        let path = entry.unwrap().path();
        let event: Event = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let j = host.judge_event(&event);
        seen.push((
            path.file_stem().unwrap().to_string_lossy().to_string(),
            j.verdict,
        ));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["boost", "follow", "like", "mention", "outgoing", "reply", "report"]
    );
    let reply = &seen.iter().find(|(n, _)| n == "reply").unwrap().1;
    assert_eq!(*reply, Verdict::Hold("contains \"casino\"".into()));
}

#[test]
fn can_scaffold_build_and_test_a_new_plugin_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let masthead = env!("CARGO_BIN_EXE_masthead");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(masthead)
            .args(args)
            .current_dir(dir.path())
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/target"),
            )
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&["plugin", "new", "no-casino"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("created plugins/no-casino/src/lib.rs"),
        "{out}"
    );
    let (ok, out) = run(&["plugin", "build", "plugins/no-casino"]);
    assert!(ok, "{out}");
    std::fs::write(
        dir.path().join("site.toml"),
        "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n\n[[plugin]]\nname = \"no-casino\"\npath = \"plugins/no-casino\"\n[plugin.config]\nwords = [\"casino\"]\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk/events/reply.json");
    let (ok, out) = run(&[
        "plugin",
        "test",
        "no-casino",
        "--event",
        sample.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert_eq!(out, "no-casino on-note: hold: contains \"casino\"\n");
}

// The MRF examples: blocklist, link-spam, mention-spam, rate-limit, follow-gate.

/// An account of `id` with what its server says of its age and followers.
fn account(id: &str, age: Option<u32>, followers: Option<u32>) -> RemoteActor {
    RemoteActor {
        account_age_days: age,
        follower_count: followers,
        ..actor(id)
    }
}

/// A reply by `author`, shaped by `shape`.
fn note_by(author: RemoteActor, shape: impl FnOnce(&mut Note)) -> Event {
    let Event::Note {
        target, kind, note, ..
    } = reply_by(&author.id, "hello")
    else {
        unreachable!()
    };
    let mut note = note;
    shape(&mut note);
    Event::Note {
        actor: author,
        target,
        kind,
        note,
    }
}

fn follow_by(author: RemoteActor) -> Event {
    Event::Follow {
        actor: author,
        target: "news".into(),
    }
}

fn reaction_by(author: RemoteActor, kind: ReactionKind) -> Event {
    Event::Reaction {
        actor: author,
        target: "news".into(),
        kind,
        post: None,
        comment: Some("look at this".into()),
        objects: vec![],
    }
}

/// Asserts that loading `crate_name` with each config fails with the plugin's own message.
fn assert_refused(crate_name: &str, cases: &[(serde_json::Value, &str)]) {
    for (config, says) in cases {
        let shown = load_problems(plugin("p", crate_name, config.clone()));
        assert_eq!(
            shown,
            [format!(
                "site.toml:1: plugin \"p\": [plugin.config]: {says}"
            )],
            "{config}"
        );
    }
}

fn hold(why: &str) -> Verdict {
    Verdict::Hold(why.into())
}

fn reject(why: &str) -> Verdict {
    Verdict::Reject(why.into())
}

#[test]
fn can_reject_or_hold_by_domain_actor_id_or_handle() {
    let (host, _) = start_host(&[plugin(
        "blocklist",
        "blocklist",
        json!({
            "reject": ["Spam.Example", "https://ok.example/users/troll"],
            "hold": ["*.loud.example", "@Shouty@OK.example"],
        }),
    )]);
    let shouty = RemoteActor {
        handle: Some("shouty@ok.example".into()),
        ..actor("https://ok.example/users/shouty")
    };
    let on_reject = "on the reject list: spam.example";
    let cases = [
        (
            actor("https://spam.example/users/a"),
            reject(on_reject),
            reject(on_reject),
        ),
        (
            actor("https://eu.spam.example/u/b"),
            reject(on_reject),
            reject(on_reject),
        ),
        (
            actor("https://ok.example/users/troll"),
            reject("on the reject list: https://ok.example/users/troll"),
            reject("on the reject list: https://ok.example/users/troll"),
        ),
        (
            actor("https://loud.example/users/c"),
            hold("on the hold list: loud.example"),
            hold("on the hold list: loud.example"),
        ),
        (
            shouty,
            hold("on the hold list: shouty@ok.example"),
            hold("on the hold list: shouty@ok.example"),
        ),
        (
            actor("https://notspam.example/users/d"),
            Verdict::Accept,
            Verdict::Accept,
        ),
        (
            actor("https://ok.example/users/fine"),
            Verdict::Accept,
            Verdict::Accept,
        ),
    ];
    for (who, on_note, on_follow) in cases {
        let id = who.id.clone();
        assert_eq!(
            host.judge_event(&note_by(who.clone(), |_| {})).verdict,
            on_note,
            "{id}"
        );
        assert_eq!(host.judge_event(&follow_by(who)).verdict, on_follow, "{id}");
    }
    // A rejected account's likes are ignored; a held one's still count.
    let like = |id: &str| {
        host.judge_event(&reaction_by(actor(id), ReactionKind::Like))
            .verdict
    };
    assert_eq!(
        like("https://spam.example/users/a"),
        Verdict::Ignore(on_reject.into())
    );
    assert_eq!(like("https://loud.example/users/c"), Verdict::Accept);
}

#[test]
fn can_import_a_mastodon_domain_block_export() {
    let csv = "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\r\n\
               spam.example,suspend,false,false,\"Spam, and \"\"more\"\"\",false\r\n\
               loud.example,silence,false,false,,false\r\n\
               pics.example,noop,true,false,,false\r\n\
               \r\n\
               reports.example,noop,false,true,,false\r\n";
    let (host, _) = start_host(&[plugin(
        "blocklist",
        "blocklist",
        json!({ "mastodon_csv": csv, "reject": ["other.example"] }),
    )]);
    let with_image = |n: &mut Note| {
        n.attachments = vec![masthead::plugins::model::Attachment {
            url: "https://pics.example/a.png".into(),
            media_type: Some("image/png".into()),
            description: None,
        }]
    };
    let note = |id: &str| host.judge_event(&note_by(actor(id), with_image));
    let j = note("https://spam.example/users/a");
    assert_eq!(
        j.verdict,
        reject("on the reject list: spam.example (Spam, and \"more\")")
    );
    assert_eq!(
        note("https://other.example/users/a").verdict,
        reject("on the reject list: other.example")
    );
    let j_loud = note("https://loud.example/users/b");
    assert_eq!(j_loud.verdict, hold("on the hold list: loud.example"));
    assert!(j_loud.rewrites.is_empty());
    let j_pics = note("https://pics.example/users/c");
    assert_eq!(j_pics.verdict, Verdict::Accept);
    assert_eq!(j_pics.rewrites, [Rewrite::StripMedia]);
    // Without media there is nothing to strip.
    let plain = host.judge_event(&note_by(actor("https://pics.example/users/c"), |_| {}));
    assert!(plain.rewrites.is_empty());
    // Reports from a `reject_reports` domain are dropped; its likes and notes are not.
    let reports = actor("https://reports.example/users/d");
    assert_eq!(
        host.judge_event(&reaction_by(reports.clone(), ReactionKind::Report))
            .verdict,
        Verdict::Ignore("on the ignore_reports list: reports.example".into())
    );
    assert_eq!(
        host.judge_event(&reaction_by(reports.clone(), ReactionKind::Like))
            .verdict,
        Verdict::Accept
    );
    assert_eq!(
        host.judge_event(&note_by(reports, |_| {})).verdict,
        Verdict::Accept
    );

    // An export without a header is a list of domains, each suspended.
    let (host, _) = start_host(&[plugin(
        "blocklist",
        "blocklist",
        json!({ "mastodon_csv": "spam.example\nbad.example\n" }),
    )]);
    assert_eq!(
        host.judge_event(&follow_by(actor("https://bad.example/users/e")))
            .verdict,
        reject("on the reject list: bad.example")
    );
}

#[test]
fn rejects_a_blocklist_it_cannot_read() {
    let header = "#domain,#severity,#reject_media\n";
    assert_refused(
        "blocklist",
        &[
            (
                json!({ "reject": ["spam example"] }),
                "`reject`: `spam example` is not a domain (write it like `spam.example`, without scheme, path or port), an actor id (https://...) or a handle (user@domain)",
            ),
            (
                json!({ "mastodon_csv": format!("{header}spam.example,suspend,false\nex*mple.com,suspend,false\n") }),
                "`mastodon_csv` line 3: `ex*mple.com` is obfuscated; write the real domain or delete the line",
            ),
            (
                json!({ "mastodon_csv": format!("{header}spam.example,block,false\n") }),
                "`mastodon_csv` line 2: severity must be suspend | silence | noop, got \"block\"",
            ),
            (
                json!({ "mastodon_csv": "#severity,#comment\nsuspend,x\n" }),
                "`mastodon_csv`: the header has no #domain column",
            ),
        ],
    );
}

#[test]
fn can_hold_links_from_new_or_unfollowed_accounts() {
    let base = json!({ "allow_domains": ["town.example"] });
    let with = |extra: serde_json::Value| {
        let mut c = base.clone();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let spam_link = vec!["https://buy.example/now".to_string()];
    let two_links = vec![
        "https://a.example/".to_string(),
        "https://b.example/".to_string(),
    ];
    let own_link = vec!["https://www.town.example/news".to_string()];
    let cases = [
        (
            json!({}),
            Some(2),
            Some(50),
            spam_link.clone(),
            hold("a link from an account 2 days old (under 7)"),
        ),
        (
            json!({}),
            Some(400),
            Some(0),
            spam_link.clone(),
            hold("a link from an account with 0 followers (under 1)"),
        ),
        (
            json!({}),
            Some(400),
            Some(10),
            spam_link.clone(),
            Verdict::Accept,
        ),
        (json!({}), Some(2), Some(0), vec![], Verdict::Accept),
        (
            json!({}),
            Some(2),
            Some(0),
            own_link.clone(),
            Verdict::Accept,
        ),
        (
            json!({}),
            None,
            Some(10),
            two_links.clone(),
            hold("links from an account of unknown age"),
        ),
        (
            json!({ "when_unknown": "accept" }),
            None,
            None,
            two_links.clone(),
            Verdict::Accept,
        ),
        (
            json!({ "action": "reject" }),
            Some(2),
            Some(50),
            spam_link.clone(),
            reject("a link from an account 2 days old (under 7)"),
        ),
        (
            json!({ "action": "hide" }),
            Some(400),
            Some(0),
            spam_link.clone(),
            Verdict::Hide("a link from an account with 0 followers (under 1)".into()),
        ),
        (
            json!({ "min_account_age_days": 0 }),
            Some(2),
            Some(5),
            spam_link.clone(),
            Verdict::Accept,
        ),
        (
            json!({ "min_followers": 100 }),
            Some(30),
            Some(99),
            spam_link.clone(),
            hold("a link from an account with 99 followers (under 100)"),
        ),
    ];
    for (extra, age, followers, links, want) in cases {
        let config = with(extra);
        let (host, _) = start_host(&[plugin("link-spam", "link-spam", config.clone())]);
        let author = account("https://r.example/users/new", age, followers);
        let got = host
            .judge_event(&note_by(author, |n| n.links = links.clone()))
            .verdict;
        assert_eq!(
            got, want,
            "{config} age {age:?} followers {followers:?} {links:?}"
        );
    }
    assert_refused(
        "link-spam",
        &[
            (
                json!({ "action": "delete" }),
                "`action` must be hold | reject | hide, got \"delete\"",
            ),
            (
                json!({ "when_unknown": "reject" }),
                "`when_unknown` must be hold | accept, got \"reject\"",
            ),
            (
                json!({ "min_followers": -1 }),
                "`min_followers` must be 0 or more, got -1",
            ),
            (
                json!({ "allow_domains": ["https://town.example"] }),
                "`allow_domains`: `https://town.example` is not a domain (write it like `spam.example`, without scheme, path or port)",
            ),
        ],
    );
}

#[test]
fn can_hold_or_reject_a_note_with_too_many_mentions() {
    let mentions = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("https://m.example/users/u{i}"))
            .collect()
    };
    let both = json!({ "hold_above": 3, "reject_above": 6 });
    let cases = [
        (both.clone(), mentions(3), Verdict::Accept),
        (
            both.clone(),
            mentions(4),
            hold("mentions 4 accounts (more than 3)"),
        ),
        (
            both.clone(),
            mentions(6),
            hold("mentions 6 accounts (more than 3)"),
        ),
        (
            both.clone(),
            mentions(7),
            reject("mentions 7 accounts (more than 6)"),
        ),
        // The same account mentioned five times is one account.
        (
            both.clone(),
            vec![mentions(1)[0].clone(); 5],
            Verdict::Accept,
        ),
        (json!({ "reject_above": 6 }), mentions(5), Verdict::Accept),
        (
            json!({ "hold_above": 0 }),
            mentions(1),
            hold("mentions 1 accounts (more than 0)"),
        ),
    ];
    for (config, list, want) in cases {
        let (host, _) = start_host(&[plugin("mentions", "mention-spam", config.clone())]);
        let n = list.len();
        let got = host
            .judge_event(&note_by(actor("https://r.example/users/a"), |note| {
                note.mentions = list
            }))
            .verdict;
        assert_eq!(got, want, "{config} with {n} mentions");
    }
    assert_refused(
        "mention-spam",
        &[
            (json!({}), "give `hold_above`, `reject_above` or both"),
            (
                json!({ "hold_above": 5, "reject_above": 5 }),
                "`reject_above` (5) must be more than `hold_above` (5), or nothing is ever held",
            ),
            (
                json!({ "reject_above": -2 }),
                "`reject_above` must be 0 or more, got -2",
            ),
        ],
    );
}

#[test]
fn reports_a_config_type_error_by_the_host_before_the_plugins_own_check() {
    let mut p = plugin("mentions", "mention-spam", json!({ "hold_above": "5" }));
    p.config_lines = [("hold_above".to_string(), 9)].into();
    assert_eq!(
        load_problems(p),
        ["site.toml:9: plugin \"mentions\": config.hold_above must be an integer, got string \"5\" (hold a note that mentions more accounts than this)"]
    );
    // A value the schema cannot judge is the plugin's to refuse, at the [plugin.config] line.
    let mut p = plugin(
        "mentions",
        "mention-spam",
        json!({ "hold_above": 5, "reject_above": 2 }),
    );
    p.config_line = Some(8);
    assert_eq!(
        load_problems(p),
        ["site.toml:8: plugin \"mentions\": [plugin.config]: `reject_above` (2) must be more than `hold_above` (5), or nothing is ever held"]
    );
}

#[test]
fn can_limit_each_accounts_notes_per_window_by_the_servers_clock() {
    for (action, over) in [("hold", hold as fn(&str) -> Verdict), ("reject", reject)] {
        let (host, clock) = start_host(&[plugin(
            "rate",
            "rate-limit",
            json!({ "max": 3, "per_seconds": 60, "action": action }),
        )]);
        let alice = || note_by(actor("https://r.example/users/alice"), |_| {});
        for i in 1..=3 {
            assert_eq!(
                host.judge_event(&alice()).verdict,
                Verdict::Accept,
                "{action} note {i}"
            );
        }
        assert_eq!(
            host.judge_event(&alice()).verdict,
            over("4 replies and mentions within 60s (at most 3)")
        );
        // Counted per account: Bob is not held for Alice's notes.
        let bob = note_by(actor("https://r.example/users/bob"), |_| {});
        assert_eq!(host.judge_event(&bob).verdict, Verdict::Accept);
        // Still inside the window (it opened at Alice's first note).
        clock.advance(Duration::from_secs(59));
        assert_eq!(
            host.judge_event(&alice()).verdict,
            over("5 replies and mentions within 60s (at most 3)")
        );
        // A new window once it has closed.
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            host.judge_event(&alice()).verdict,
            Verdict::Accept,
            "{action}"
        );
    }
    assert_refused(
        "rate-limit",
        &[
            (
                json!({ "max": 0, "per_seconds": 60 }),
                "`max` must be between 1 and 4294967295, got 0",
            ),
            (
                json!({ "max": 3, "per_seconds": -1 }),
                "`per_seconds` must be between 1 and 4294967295, got -1",
            ),
            (
                json!({ "max": 3, "per_seconds": 60, "action": "hide" }),
                "`action` must be hold | reject, got \"hide\"",
            ),
        ],
    );
}

#[test]
fn can_hold_follows_from_new_unfollowed_or_bot_accounts() {
    let bot = |age, followers| RemoteActor {
        bot: true,
        ..account("https://r.example/users/bot", age, followers)
    };
    let person = |age, followers| account("https://r.example/users/p", age, followers);
    let cases = [
        (json!({}), person(Some(400), Some(10)), Verdict::Accept),
        (
            json!({}),
            person(Some(1), Some(10)),
            hold("an account 1 day old (under 7)"),
        ),
        (
            json!({}),
            person(Some(400), Some(0)),
            hold("an account with 0 followers (under 1)"),
        ),
        (json!({}), bot(Some(400), Some(10)), hold("a bot account")),
        (
            json!({ "hold_bots": false }),
            bot(Some(400), Some(10)),
            Verdict::Accept,
        ),
        (json!({}), person(None, None), Verdict::Accept),
        (
            json!({ "when_unknown": "hold" }),
            person(None, None),
            hold("an account of unknown age and follower count"),
        ),
        (
            json!({ "when_unknown": "hold" }),
            person(Some(9), None),
            hold("an account of unknown follower count"),
        ),
        (
            json!({ "action": "reject" }),
            person(Some(3), Some(10)),
            reject("an account 3 days old (under 7)"),
        ),
        (
            json!({ "min_account_age_days": 30, "min_followers": 0 }),
            person(Some(29), Some(0)),
            hold("an account 29 days old (under 30)"),
        ),
    ];
    for (config, who, want) in cases {
        let (host, _) = start_host(&[plugin("gate", "follow-gate", config.clone())]);
        let got = host.judge_event(&follow_by(who.clone())).verdict;
        assert_eq!(got, want, "{config} {who:?}");
        // The gate is for follows: the same account's replies pass.
        assert_eq!(
            host.judge_event(&note_by(who, |_| {})).verdict,
            Verdict::Accept
        );
    }
    assert_refused(
        "follow-gate",
        &[
            (
                json!({ "action": "hide" }),
                "`action` must be hold | reject, got \"hide\"",
            ),
            (
                json!({ "min_account_age_days": -7 }),
                "`min_account_age_days` must be 0 or more, got -7",
            ),
        ],
    );
}

/// `plugins/python/no-shouting`, built with componentize-py.
fn no_shouting(config: serde_json::Value) -> Plugin {
    Plugin::new(
        "no-shouting",
        common::plugins::python("no-shouting"),
        config,
    )
}

/// The contract is language-neutral: a plugin written in Python and built with componentize-py
/// loads in the same host, under the same limits, and its decisions, labels and rewrites come
/// through like a Rust plugin's.
#[test]
fn can_run_a_python_plugin_built_with_componentize_py() {
    let (host, _) = start_host(&[no_shouting(json!({}))]);
    let shouted = "WHY IS THE TOWN HALL CLOSED ON MONDAYS?";
    let j = host.judge_event(&reply(shouted));
    assert_eq!(j.verdict, Verdict::Hold("written in capitals".into()));
    assert_eq!(j.by, ["no-shouting"]);
    assert_eq!(
        j.labels,
        [("no-shouting".to_string(), "shouting".to_string())]
    );
    for fine in [
        "Why is the town hall closed on Mondays?",
        // Too short to be shouting.
        "OK, THANKS",
        // Mentions, hashtags and links are not the writer's tone.
        "@NEWS@S.EXAMPLE #EUROPE HTTPS://EXAMPLE.ORG/ABC thanks for this",
        "",
    ] {
        let j = host.judge_event(&reply(fine));
        assert_eq!(j.verdict, Verdict::Accept, "{fine}");
        assert!(j.labels.is_empty(), "{fine}");
    }
    // A follow, a like and an outgoing post get the neutral answer.
    let follow = Event::Follow {
        actor: actor("https://r.example/users/alice"),
        target: "news".into(),
    };
    assert_eq!(host.judge_event(&follow).verdict, Verdict::Accept);
    let post = outgoing(&[], "HELLO EVERYONE AND WELCOME");
    assert!(host.outgoing(&post).veto.is_none());

    // Each action, and the thresholds, from [plugin.config].
    let (host, _) = start_host(&[no_shouting(json!({ "action": "warn" }))]);
    let j = host.judge_event(&reply(shouted));
    assert_eq!(j.verdict, Verdict::Accept);
    assert_eq!(
        j.rewrites,
        [Rewrite::ContentWarning("Written in capitals".into())]
    );
    let (host, _) = start_host(&[no_shouting(
        json!({ "action": "reject", "min_letters": 4, "share": 0.9 }),
    )]);
    assert_eq!(
        host.judge_event(&reply("OK, THANKS")).verdict,
        Verdict::Reject("written in capitals".into())
    );
    assert_eq!(
        host.judge_event(&reply("WHY IS THE TOWN HALL CLOSED on mondays?"))
            .verdict,
        Verdict::Accept
    );
    let (host, _) = start_host(&[no_shouting(json!({ "action": "hide" }))]);
    assert!(matches!(
        host.judge_event(&reply(shouted)).verdict,
        Verdict::Hide(_)
    ));
}

#[test]
fn errors_when_a_python_plugins_config_is_wrong() {
    // Keys and types are checked against the schema the Python plugin exports.
    let mut p = no_shouting(json!({ "acton": "hold", "share": "most" }));
    p.config_lines = [("acton".to_string(), 5), ("share".to_string(), 6)].into();
    let shown = load_problems(p);
    assert_eq!(
        shown,
        [
            "site.toml:5: plugin \"no-shouting\": unknown key `acton` in [plugin.config] (did you mean `action`?)",
            "site.toml:6: plugin \"no-shouting\": config.share must be a number, got string \"most\" (the share of capitals among the letters from which a text is shouting: above 0.5, at most 1 (default 0.7))",
        ]
    );
    // A value the plugin refuses: the Python exception is the reason, and on_error holds.
    let (host, _) = start_host(&[no_shouting(json!({ "action": "shout back" }))]);
    let Verdict::Hold(reason) = host.judge_event(&reply("hello")).verdict else {
        panic!()
    };
    assert!(
        reason.starts_with("plugin no-shouting failed: trapped")
            && reason.contains(
                "config.action must be one of hold, hide, reject, warn, got 'shout back'"
            ),
        "{reason}"
    );
}

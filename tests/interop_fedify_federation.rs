//! Two-way federation with Fedify, an independent implementation, on loopback: a Fedify server
//! (tests/interop/fedify/peer.mjs, created with `allowPrivateAddress: true`) follows a masthead
//! actor and gets the Accept; receives Create, Update and Delete for a post and verifies each
//! signature; replies, likes, boosts and unfollows, and masthead shows the reply, the counts and
//! the lost follower. Fedify signs RFC 9421 first and falls back to draft-cavage; each style is
//! checked to be accepted as sent. Posts that mention the peer (`@peer@127.0.0.1:PORT`, found by
//! WebFinger) or reply to its notes are tagged, addressed and delivered to it, follower or not,
//! and a publication waiting for that survives a restart. While `serve` watches the site, a file
//! saved, edited and removed reaches Fedify as a verified Create, Update and Delete, and an edit
//! of the profile in site.toml as a verified Update of the actor. With plugins in the real
//! server: a reply with a configured keyword (or, through the Python plugin, in capitals) is held
//! out of `replies` and comments.json, a question gets its auto-reply once, threaded and verified
//! by Fedify, though the question arrives twice, and a follow held by a plugin waits until a
//! person approves it, then Fedify gets the Accept.

mod common;

use std::sync::Arc;

use common::plugins::{FAQ, NO_SHOUTING, SPAM_WORDS};
use common::{eventually, Peer, TestSite, AP};
use masthead::admin::{Decision, QueueItem};
use masthead::app::App;
use masthead::config::Site;
use masthead::federation::inbox::FollowAnswer;
use masthead::store::{FollowState, HeldBy, ReplyStatus};
use serde_json::{json, Value};

fn received_type<'a>(kind: &'a str, object: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |a| a["type"] == kind && a["objectId"] == object
}

/// The `federated` fixture served, and a Fedify peer signing with `sig` first. A removal is
/// final at once here (the grace period before a Delete is tested in tests/delivery.rs).
async fn start(sig: &str) -> (TestSite, Peer, Arc<App>) {
    let site = TestSite::start_configured("federated", "delete_grace_secs = 0\n").await;
    let peer = Peer::start(sig).await;
    let app = site.app().clone();
    (site, peer, app)
}

/// Writes `content/news/<slug>.md`, publishes it, and waits for the peer to receive its Create
/// and verify the signature.
async fn publish_created(
    site: &TestSite,
    peer: &Peer,
    slug: &str,
    text: &str,
    what: &str,
) -> Value {
    site.write_post(&format!("news/{slug}.md"), text);
    publish(site).await;
    let post_id = format!("{}/users/news/posts/{slug}", site.base);
    peer.wait_verified(what, received_type("Create", &post_id))
        .await
}

async fn publish(site: &TestSite) {
    let app = site.app();
    // The rebuild records the change and queues its publication.
    app.rebuild().await.unwrap();
}

async fn follow(site: &TestSite, peer: &Peer, handle: &str) -> String {
    let target = format!("{}/users/{handle}", site.base);
    let sent = peer.control("follow", json!({ "target": target })).await;
    sent["id"].as_str().unwrap().to_string()
}

async fn wait_accepted(peer: &Peer) {
    eventually("the peer to see its follow accepted", || async {
        (peer.read("following").await["accepted"] == true).then_some(())
    })
    .await;
}

/// Waits until the peer sees its follow accepted and has verified the Accept, which it returns.
async fn verified_accept(peer: &Peer) -> Value {
    wait_accepted(peer).await;
    peer.wait_verified("the Accept", |a| a["type"] == "Accept")
        .await
}

/// The state of the peer's follow of `news` at masthead.
fn follow_state(app: &App, peer: &Peer) -> FollowState {
    let follower = app.store.follower("news", &peer.actor).unwrap();
    follower.unwrap().state
}

/// Whether the peer received an activity that `matches`.
async fn received_any(peer: &Peer, matches: impl Fn(&Value) -> bool) -> bool {
    let received = peer.read("received").await;
    received.as_array().unwrap().iter().any(matches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_federate_both_ways_with_fedify() {
    let (site, peer, app) = start("rfc9421").await;
    let b = site.base.clone();

    // Follow -> 202 -> Accept delivered after it, signed and verified by Fedify.
    let follow_id = follow(&site, &peer, "news").await;
    let accept = verified_accept(&peer).await;
    assert_eq!(accept["actor"], format!("{b}/users/news"));
    assert_eq!(follow_state(&app, &peer), FollowState::Accepted);
    assert_eq!(
        app.store
            .inbox_activity_signature(&follow_id)
            .unwrap()
            .as_deref(),
        Some("rfc9421")
    );
    let followers = site.get("/users/news/followers", AP).await.json();
    assert_eq!(followers["totalItems"], 1);

    // A new post goes out as Create, an edit as Update, a removal as Delete.
    let post_id = format!("{b}/users/news/posts/fresh");
    let fresh = common::post_dated_now("", "Just published. #Fresh");
    let create = publish_created(&site, &peer, "fresh", &fresh, "the Create").await;
    assert_eq!(create["objectType"], "Note");

    let corrected = fresh.replace("Just published.", "Just published, now corrected.");
    site.write_post("news/fresh.md", &corrected);
    publish(&site).await;
    let update = peer
        .wait_verified("the Update", received_type("Update", &post_id))
        .await;
    assert!(
        update["activity"]["object"]["updated"].is_string(),
        "{update}"
    );
    assert!(update["activity"]["object"]["content"]
        .as_str()
        .unwrap()
        .contains("corrected"));

    site.remove_post("news/fresh.md");
    publish(&site).await;
    peer.wait_verified("the Delete", |a| {
        a["type"] == "Delete" && a["activity"]["object"]["id"] == post_id
    })
    .await;

    // The peer replies, likes, boosts; masthead shows all three.
    let hello = format!("{b}/users/news/posts/hello");
    let reply = peer
        .control(
            "reply",
            json!({ "inReplyTo": hello, "content": "<p>Nice post!<script>x</script></p>" }),
        )
        .await;
    let reply_note = reply["objectId"].as_str().unwrap().to_string();
    peer.control("like", json!({ "object": hello })).await;
    peer.control("announce", json!({ "object": hello })).await;
    let note = eventually("the reply, like and boost to show on the post", || async {
        let note = site.get("/users/news/posts/hello", AP).await.json();
        (note["replies"]["totalItems"] == 1
            && note["likes"]["totalItems"] == 1
            && note["shares"]["totalItems"] == 1)
            .then_some(note)
    })
    .await;
    let replies = site
        .get(note["replies"]["first"].as_str().unwrap(), AP)
        .await
        .json();
    let first = &replies["orderedItems"][0];
    let first_id = first.as_str().or(first["id"].as_str()).unwrap().to_string();
    assert_eq!(first_id, reply_note);
    let page = site.get("/@news/hello", "text/html").await.text();
    assert!(page.contains("Nice post!"), "the reply shows on the page");
    assert!(!page.contains("<script>x"), "and is sanitized");
    assert!(
        page.contains("1 likes · 1 boosts") || page.contains("1 like"),
        "{page}"
    );

    // Unfollow: the follower is gone.
    peer.control("unfollow", json!({ "target": format!("{b}/users/news") }))
        .await;
    eventually("the follower to be removed", || async {
        app.store
            .followers("news", FollowState::Accepted)
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_accept_fedify_draft_cavage_signatures_and_wait_for_approval() {
    let (site, peer, app) = start("cavage").await;

    // `desk` approves followers by hand: the follow waits, then the operator approves it.
    let follow_id = follow(&site, &peer, "desk").await;
    eventually("the follow to be recorded as pending", || async {
        app.store
            .follower("desk", &peer.actor)
            .unwrap()
            .filter(|f| f.state == FollowState::Pending)
    })
    .await;
    assert_eq!(
        app.store
            .inbox_activity_signature(&follow_id)
            .unwrap()
            .as_deref(),
        Some("draft-cavage-12")
    );
    assert_ne!(peer.read("following").await["accepted"], true);
    masthead::admin::answer_follow(
        &app.site(),
        &app.store,
        Some("desk"),
        &peer.actor,
        FollowAnswer::Accept,
    )
    .unwrap();
    app.delivery_wake.notify_one();
    verified_accept(&peer).await;
}

/// `127.0.0.1:PORT` of a peer: the host part of its handle.
fn peer_host(peer: &Peer) -> String {
    peer.url.trim_start_matches("http://").to_string()
}

/// A visitor whose account is on a Fedify server uses the Follow form of a profile and the
/// Reply form of a post: masthead looks their handle up by Fedify's own WebFinger, which
/// publishes no interaction template (no FEP-3b86 intent, no OStatus subscribe), and sends them
/// to the search of the server Fedify's `self` link names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_send_a_fedify_user_from_the_forms_to_the_search_of_their_server() {
    let (site, peer, _app) = start("default").await;
    let handle = format!("@peer@{}", peer_host(&peer));
    let wf = common::send(
        &format!(
            "{}/.well-known/webfinger?resource=acct:peer@{}",
            peer.url,
            peer_host(&peer)
        ),
        hyper::Method::GET,
        "application/jrd+json",
        None,
    )
    .await
    .json();
    let links = wf["links"].as_array().unwrap();
    assert!(
        links.iter().all(|l| l["template"].is_null()),
        "Fedify publishes a template now; expect it here instead: {wf}"
    );
    for object in [
        format!("{}/users/news", site.base),
        format!("{}/users/news/posts/hello", site.base),
    ] {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("uri", &object)
            .append_pair("acct", &handle)
            .finish();
        let got = site
            .get(&format!("/interact?{query}"), common::BROWSER)
            .await;
        assert_eq!(got.status, hyper::StatusCode::SEE_OTHER, "{}", got.text());
        assert_eq!(
            got.header("location"),
            format!(
                "{}/search?q={}",
                peer.url,
                masthead::urls::encode_segment(&object)
            )
        );
    }
}

/// The Mention tags of an object.
fn mentions(object: &Value) -> Vec<Value> {
    object["tag"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "Mention")
        .cloned()
        .collect()
}

fn cc_has(object: &Value, id: &str) -> bool {
    object["cc"].as_array().unwrap().iter().any(|c| c == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_mention_a_fedify_follower_and_reply_to_its_note() {
    let (site, peer, app) = start("default").await;
    let b = site.base.clone();
    follow(&site, &peer, "news").await;
    wait_accepted(&peer).await;

    // A mention: resolved by WebFinger, tagged, in cc, delivered; GET shows the same.
    let handle = format!("@peer@{}", peer_host(&peer));
    let thanks = common::post_dated_now("", &format!("Thanks {handle} for following!"));
    let create = publish_created(
        &site,
        &peer,
        "thanks",
        &thanks,
        "the Create mentioning the peer",
    )
    .await;
    let activity = &create["activity"];
    let object = &activity["object"];
    let expected = json!([{ "type": "Mention", "href": peer.actor, "name": handle }]);
    assert_eq!(json!(mentions(object)), expected, "{object}");
    assert!(cc_has(object, &peer.actor), "{object}");
    assert_eq!(activity["to"], object["to"]);
    assert_eq!(activity["cc"], object["cc"]);
    let served = site.get("/users/news/posts/thanks", AP).await.json();
    assert_eq!(json!(mentions(&served)), expected, "{served}");
    assert_eq!(served["cc"], object["cc"]);
    assert!(app.store.pending_publications().unwrap().is_empty());

    // A reply to the peer's note: threaded under it, its author tagged, in cc and delivered to.
    let reply = peer
        .control(
            "reply",
            json!({ "inReplyTo": format!("{b}/users/news/posts/hello"), "content": "<p>Hi!</p>" }),
        )
        .await;
    let note = reply["objectId"].as_str().unwrap().to_string();
    let front = format!("in_reply_to = \"{note}\"\n");
    let answer = common::post_dated_now(&front, "Glad you like it.");
    let create = publish_created(&site, &peer, "answer", &answer, "the Create of the reply").await;
    let object = &create["activity"]["object"];
    assert_eq!(object["inReplyTo"], note);
    assert!(cc_has(object, &peer.actor), "{object}");
    assert_eq!(json!(mentions(object)), expected, "{object}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_deliver_a_followers_only_mention_to_a_fedify_peer_that_does_not_follow() {
    let (site, peer, app) = start("rfc9421").await;
    assert!(app
        .store
        .followers("news", FollowState::Accepted)
        .unwrap()
        .is_empty());

    let post_id = format!("{}/users/news/posts/psst", site.base);
    let body = format!("A word for @peer@{} only.", peer_host(&peer));
    let psst = common::post_dated_now("visibility = \"followers\"\n", &body);
    let what = "the Create mentioning the peer";
    let create = publish_created(&site, &peer, "psst", &psst, what).await;
    let object = &create["activity"]["object"];
    assert_eq!(
        object["to"],
        json!([format!("{}/users/news/followers", site.base)])
    );
    assert_eq!(object["cc"], json!([peer.actor]));

    // Removing the post reaches the peer too, though it does not follow: a Delete goes wherever
    // the post went.
    eventually("our Create delivery to be recorded as done", || async {
        app.store
            .deliveries_of_object(&post_id)
            .unwrap()
            .iter()
            .any(|d| d.state == masthead::store::DeliveryState::Done)
            .then_some(())
    })
    .await;
    site.remove_post("news/psst.md");
    publish(&site).await;
    peer.wait_verified("the Delete of the mention", |a| {
        a["type"] == "Delete" && a["activity"]["object"]["id"] == post_id
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_a_held_back_mention_after_a_restart() {
    let peer = Peer::start("default").await;
    let (dir, listener, base) = common::prepare("federated").await;
    let open = || {
        let loaded = Site::load(&dir.path().join("site.toml")).unwrap();
        App::open(loaded.site).unwrap().0
    };

    // Written and rebuilt while no worker runs, then the process "dies".
    let app = open();
    let body = format!("See you, @peer@{}.", peer_host(&peer));
    common::write_post(
        dir.path(),
        "news/later.md",
        &common::post_dated_now("", &body),
    );
    app.rebuild().await.unwrap();
    let pending = app.store.pending_publications().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].slug, "later");
    let post_id = format!("{base}/users/news/posts/later");
    assert!(app.store.deliveries_of_object(&post_id).unwrap().is_empty());
    drop(app);

    // The next start finds the row and publishes it.
    let running = masthead::app::start(Arc::new(open()), listener).unwrap();
    let create = peer
        .wait_verified(
            "the Create held across the restart",
            received_type("Create", &post_id),
        )
        .await;
    assert!(cc_has(&create["activity"]["object"], &peer.actor));
    assert!(running.app.store.pending_publications().unwrap().is_empty());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_publish_saved_files_and_profile_edits_to_fedify_while_watching() {
    let (mut site, peer, _app) = start("rfc9421").await;
    site.running.as_mut().unwrap().watch().unwrap();
    let b = site.base.clone();
    follow(&site, &peer, "news").await;
    wait_accepted(&peer).await;

    // Saved the way vim saves: written beside, renamed over. No rebuild is asked for by hand.
    let news = site.path("content/news");
    let post_id = format!("{b}/users/news/posts/saved");
    let text = common::post_dated_now("", "Saved in an editor.");
    std::fs::write(news.join("saved.md.tmp"), &text).unwrap();
    std::fs::rename(news.join("saved.md.tmp"), news.join("saved.md")).unwrap();
    peer.wait_verified(
        "the Create of the saved file",
        received_type("Create", &post_id),
    )
    .await;

    // Edited in place.
    std::fs::write(
        news.join("saved.md"),
        text.replace("Saved", "Saved and edited"),
    )
    .unwrap();
    let update = peer
        .wait_verified(
            "the Update of the edited file",
            received_type("Update", &post_id),
        )
        .await;
    assert!(update["activity"]["object"]["content"]
        .as_str()
        .unwrap()
        .contains("edited"));

    // Removed.
    std::fs::remove_file(news.join("saved.md")).unwrap();
    peer.wait_verified("the Delete of the removed file", |a| {
        a["type"] == "Delete" && a["activity"]["object"]["id"] == post_id
    })
    .await;

    // The profile edited in site.toml: an Update of the actor, with the new name.
    let config = site.path("site.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        toml.replace("name = \"City News\"", "name = \"City News Room\""),
    )
    .unwrap();
    let actor = format!("{b}/users/news");
    let update = peer
        .wait_verified("the Update of the actor", received_type("Update", &actor))
        .await;
    assert_eq!(update["activity"]["object"]["name"], "City News Room");
}

/// The `federated` fixture served with `plugins` added to its site.toml (`{{WASM}}` is the
/// folder of the built guest plugins, `{{PYTHON}}` the Python example's component), and a Fedify
/// peer.
async fn start_with_plugins(plugins: &str) -> (TestSite, Peer, Arc<App>) {
    let (dir, listener, base) = common::prepare("federated").await;
    common::plugins::add_plugins(&dir.path().join("site.toml"), plugins);
    let running = common::serve_dir(dir.path(), listener).await;
    let site = TestSite {
        dir,
        base,
        running: Some(running),
    };
    let peer = Peer::start("rfc9421").await;
    let app = site.app().clone();
    (site, peer, app)
}

/// Waits until masthead has applied everything it received and delivered everything it queued.
async fn settled(app: &App) {
    eventually("the inbox and delivery queues to drain", || async {
        (app.store
            .due_inbox_activities(i64::MAX, 1)
            .unwrap()
            .is_empty()
            && app.store.next_delivery_due().unwrap().is_none())
        .then_some(())
    })
    .await;
}

/// The ids in the first page of a post's `replies` collection, and its comments.json.
async fn shown_replies(site: &TestSite, slug: &str) -> (Vec<String>, String) {
    let note = site
        .get(&format!("/users/news/posts/{slug}"), AP)
        .await
        .json();
    let page = site
        .get(note["replies"]["first"].as_str().unwrap(), AP)
        .await
        .json();
    let ids = page["orderedItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().or(i["id"].as_str()).unwrap().to_string())
        .collect();
    let comments = site
        .get(&format!("/users/news/posts/{slug}/comments.json"), AP)
        .await
        .text();
    (ids, comments)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_hold_fedify_replies_and_answer_a_question_once_with_plugins() {
    let plugins = format!("{SPAM_WORDS}{NO_SHOUTING}{FAQ}");
    let (site, peer, app) = start_with_plugins(&plugins).await;
    let hello = format!("{}/users/news/posts/hello", site.base);
    let reply = |content: &'static str| {
        let peer = &peer;
        let hello = hello.clone();
        async move {
            let sent = peer
                .control("reply", json!({ "inReplyTo": hello, "content": content }))
                .await;
            sent["objectId"].as_str().unwrap().to_string()
        }
    };

    // A reply with a configured keyword, and one in capitals (the Python plugin): held, by
    // name, and shown nowhere.
    let spam = reply("<p>Best casino in town, come and win!</p>").await;
    let shouted = reply("<p>WHY IS THE TOWN HALL CLOSED ON MONDAYS?</p>").await;
    let fine = reply("<p>Thanks for the news.</p>").await;
    settled(&app).await;
    for (id, plugin, reason) in [
        (&spam, "spam-words", "contains \"casino\""),
        (&shouted, "no-shouting", "written in capitals"),
    ] {
        let held = app.store.reply(id).unwrap().unwrap();
        assert_eq!(held.status, ReplyStatus::Held, "{id}");
        let hold = held.hold.unwrap();
        assert_eq!(hold.by, HeldBy::Plugin(plugin.into()));
        assert_eq!(hold.reason, reason);
    }
    let queue = masthead::admin::queue(&app.store, false).unwrap();
    let queued: Vec<&str> = queue
        .iter()
        .filter_map(|i| match i {
            QueueItem::Reply(q) => Some(q.item.id.as_str()),
            QueueItem::Follow(_) => None,
        })
        .collect();
    assert_eq!(queued, [spam.as_str(), shouted.as_str()]);
    let (ids, comments) = shown_replies(&site, "hello").await;
    assert_eq!(ids, std::slice::from_ref(&fine));
    assert!(comments.contains("Thanks for the news."), "{comments}");
    assert!(
        !comments.contains("casino") && !comments.contains("MONDAYS"),
        "{comments}"
    );
    // No answer went out to any of them.
    assert!(!received_any(&peer, |a| a["type"] == "Create").await);

    // A question: the answer comes back as our actor, threaded under it, and Fedify's inbox
    // verifies its signature.
    let question = reply("<p>What are your opening hours?</p>").await;
    let answer = peer
        .wait_verified("the auto-reply", |a| {
            a["type"] == "Create" && a["activity"]["object"]["inReplyTo"] == question
        })
        .await;
    let object = &answer["activity"]["object"];
    assert_eq!(answer["actor"], format!("{}/users/news", site.base));
    assert_eq!(object["attributedTo"], format!("{}/users/news", site.base));
    assert!(
        object["content"]
            .as_str()
            .unwrap()
            .contains("<strong>8:30-17:00</strong>"),
        "{object}"
    );
    assert!(
        object["tag"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "Mention" && t["href"] == peer.actor),
        "{object}"
    );

    // The same Create delivered again (a retrying server): still one answer, at masthead and on
    // the wire (Fedify's inbox would drop a repeated activity id unseen, so its every POST is
    // counted).
    peer.control("resend", json!({})).await;
    settled(&app).await;
    let answers_to = |requests: &Value| {
        requests
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "Create" && r["inReplyTo"] == question)
            .count()
    };
    let requests = peer.read("inbox-requests").await;
    assert_eq!(answers_to(&requests), 1, "{requests}");
    let create_id = answer["id"].as_str().unwrap();
    assert_eq!(
        app.store.deliveries_of_activity(create_id).unwrap().len(),
        1
    );
    let (ids, _) = shown_replies(&site, "hello").await;
    assert_eq!(ids, [fine, question]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_gate_a_fedify_follow_with_a_plugin_until_a_person_approves_it() {
    // The follow-gate example: Fedify's new account (no age or follower count it can trust
    // over a week) waits for a person.
    let (site, peer, app) = start_with_plugins(
        r#"
[[plugin]]
name = "gate"
path = "{{WASM}}/follow_gate.wasm"
actors = ["news"]
[plugin.config]
min_account_age_days = 7
min_followers = 1
when_unknown = "hold"
"#,
    )
    .await;
    follow(&site, &peer, "news").await;
    let pending = eventually("the follow to wait in the queue", || async {
        masthead::admin::queue(&app.store, false)
            .unwrap()
            .into_iter()
            .find_map(|i| match i {
                QueueItem::Follow(q) if q.item.follower == peer.actor => Some(q),
                _ => None,
            })
    })
    .await;
    let hold = pending.item.hold.clone().unwrap();
    assert_eq!(hold.by, HeldBy::Plugin("gate".into()));
    assert!(
        hold.reason.starts_with("an "), // "an account of unknown age", "an account 0 days old"
        "{}",
        hold.reason
    );
    assert_eq!(pending.item.state, FollowState::Pending);
    // Nothing went back while it waits.
    settled(&app).await;
    assert_ne!(peer.read("following").await["accepted"], true);
    assert!(!received_any(&peer, |a| a["type"] == "Accept" || a["type"] == "Reject").await);

    // `masthead approve f<N>`: the Accept goes out and Fedify verifies it.
    let id = format!("f{}", pending.no);
    masthead::admin::decide(&app.site(), &app.store, &id, Decision::Approve).unwrap();
    app.delivery_wake.notify_one();
    verified_accept(&peer).await;
    assert_eq!(follow_state(&app, &peer), FollowState::Accepted);
    assert!(masthead::admin::queue(&app.store, false)
        .unwrap()
        .is_empty());
}

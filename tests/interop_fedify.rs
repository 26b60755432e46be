//! Fedify, an independent ActivityPub implementation, reads a masthead site: it looks up
//! `@news@127.0.0.1:PORT` by WebFinger (over https, the only way Fedify looks up handles),
//! fetches the actor, the outbox and a post, and parses each with its own strict vocabulary.
//! The peer scripts live in tests/interop/fedify; `bash scripts/test.sh` installs them.

mod common;

use std::process::Command;

use common::TestSite;
use serde_json::Value;

fn lookup(site: &TestSite, target: &str) -> Value {
    let (node, interop) = common::node();
    let stdout = common::stdout_of(
        Command::new(node)
            .arg(interop.join("fedify/lookup.mjs"))
            .arg(target)
            .env("NODE_EXTRA_CA_CERTS", site.path("tls/cert.pem")),
        &format!("Fedify reading {target}"),
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_be_read_by_fedify_from_a_handle() {
    let site = TestSite::start_tls("basic").await;
    let host = site.base.trim_start_matches("https://").to_string();
    let b = site.base.clone();
    let got = lookup(&site, &format!("@news@{host}"));

    assert_eq!(got["webfinger"]["self"], format!("{b}/users/news"));
    let actor = &got["actor"];
    assert_eq!(actor["id"], format!("{b}/users/news"));
    assert_eq!(actor["type"], "Organization");
    assert_eq!(actor["preferredUsername"], "news");
    assert_eq!(actor["name"], "City News");
    assert_eq!(actor["inbox"], format!("{b}/users/news/inbox"));
    assert_eq!(actor["sharedInbox"], format!("{b}/inbox"));
    assert_eq!(
        actor["featured"],
        format!("{b}/users/news/collections/featured")
    );
    assert_eq!(actor["manuallyApprovesFollowers"], false);
    assert_eq!(actor["publicKey"]["id"], format!("{b}/users/news#main-key"));
    assert_eq!(actor["publicKey"]["owner"], format!("{b}/users/news"));
    assert_eq!(
        actor["iconUrl"],
        format!("{b}/media/content/news/avatar.png")
    );
    assert_eq!(actor["fields"][0]["name"], "Website");

    let outbox = &got["outbox"];
    assert_eq!(outbox["totalItems"], 4);
    assert_eq!(outbox["firstPageItems"], 4);
    assert_eq!(outbox["firstActivity"]["type"], "Create");

    let post = &got["post"];
    assert_eq!(post["id"], format!("{b}/users/news/posts/hello"));
    assert_eq!(post["type"], "Note");
    assert_eq!(post["attributedTo"], format!("{b}/users/news"));
    assert_eq!(post["published"], "2026-11-20T09:00:00Z");
    assert!(post["contentStartsWith"]
        .as_str()
        .unwrap()
        .starts_with("<p><strong>Hello world</strong></p>"));
    let tags = post["tags"].as_array().unwrap();
    assert!(
        tags.iter()
            .any(|t| t["type"] == "Hashtag" && t["name"] == "#Welcome"),
        "{tags:?}"
    );
    let image = &post["attachments"][0];
    assert_eq!(image["mediaType"], "image/png");
    assert_eq!(image["name"], "A path by the river");
    assert_eq!(image["width"], 320);
    assert_eq!(image["height"], 180);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_be_read_by_fedify_from_an_actor_url() {
    let site = TestSite::start_tls("basic").await;
    let got = lookup(&site, &format!("{}/users/press", site.base));
    assert_eq!(got["actor"]["type"], "Service");
    assert_eq!(got["outbox"]["totalItems"], 2);
    assert_eq!(got["post"]["type"], "Note");
}

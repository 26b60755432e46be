//! The HTML pages a browser gets, by snapshot (tests/snapshots/). The random port of each run is
//! replaced by a fixed host so snapshots are stable.

mod common;

use common::{TestSite, BROWSER};
use hyper::StatusCode;

/// Serves the `basic` fixture and compares each `(snapshot name, path)` page with its snapshot.
async fn snapshots(pages: &[(&str, &str)]) {
    let site = TestSite::start("basic").await;
    for (name, path) in pages {
        insta::assert_snapshot!(*name, page(&site, path).await);
    }
}

async fn page(site: &TestSite, path: &str) -> String {
    let got = site.get(path, BROWSER).await;
    assert_eq!(got.status, StatusCode::OK, "{path}");
    assert_eq!(got.header("content-type"), "text/html; charset=utf-8");
    let host = site.base.trim_start_matches("http://");
    got.text()
        .replace(&site.base, "http://masthead.test")
        .replace(host, "masthead.test")
}

#[tokio::test]
async fn can_render_the_profile_page() {
    snapshots(&[("profile_page", "/@news")]).await;
}

#[tokio::test]
async fn can_render_a_post_page_with_image_and_tags() {
    snapshots(&[("post_page", "/@news/hello")]).await;
}

#[tokio::test]
async fn can_render_a_post_behind_a_content_warning() {
    snapshots(&[("post_page_cw", "/@news/cw")]).await;
}

#[tokio::test]
async fn can_render_the_home_and_tag_pages() {
    snapshots(&[("home_page", "/"), ("tag_page", "/tags/citylife")]).await;
}

//! The HTML pages a browser gets, by snapshot (tests/snapshots/). The random port of each run is
//! replaced by a fixed host so snapshots are stable.

mod common;

use common::{TestSite, BROWSER};
use hyper::StatusCode;

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
    let site = TestSite::start("basic").await;
    insta::assert_snapshot!("profile_page", page(&site, "/@news").await);
}

#[tokio::test]
async fn can_render_a_post_page_with_image_and_tags() {
    let site = TestSite::start("basic").await;
    insta::assert_snapshot!("post_page", page(&site, "/@news/hello").await);
}

#[tokio::test]
async fn can_render_a_post_behind_a_content_warning() {
    let site = TestSite::start("basic").await;
    insta::assert_snapshot!("post_page_cw", page(&site, "/@news/cw").await);
}

#[tokio::test]
async fn can_render_the_home_and_tag_pages() {
    let site = TestSite::start("basic").await;
    insta::assert_snapshot!("home_page", page(&site, "/").await);
    insta::assert_snapshot!("tag_page", page(&site, "/tags/citylife").await);
}

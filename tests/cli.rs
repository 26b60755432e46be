//! The binary as a person runs it: `init` makes a site that `check` passes and `serve` runs, and
//! `serve` on the demo site answers with logs in JSON when asked.

mod common;

use std::path::Path;
use std::process::Command;

use hyper::{Method, StatusCode};

fn masthead() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_masthead"));
    cmd.env_remove("RUST_LOG");
    cmd
}

#[test]
fn can_init_a_site_that_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("city-hall");
    let out = masthead().arg("init").arg(&site).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("site.toml"), "{stdout}");
    let check = masthead()
        .args(["check", "--config"])
        .arg(site.join("site.toml"))
        .output()
        .unwrap();
    let report = String::from_utf8(check.stdout).unwrap();
    assert!(check.status.success(), "{report}");
    assert!(
        report.ends_with("1 post ready; 0 errors, 1 warning\n"),
        "{report}"
    );

    let again = masthead().arg("init").arg(&site).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}

fn serve(config: &Path, data_dir: &Path) -> (std::process::Child, String) {
    common::spawn_serve(config, data_dir)
}

/// GET `path` on `addr`: the status and the body.
async fn get(addr: &str, path: &str, accept: &str) -> (StatusCode, String) {
    let got = common::fetch(&format!("http://{addr}{path}"), Method::GET, accept, &[]).await;
    (got.status, got.text())
}

#[tokio::test]
async fn can_serve_the_demo_site_with_json_logs() {
    let data = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("site.toml");
    let (mut child, addr) = serve(&config, data.path());
    let (status, body) = get(&addr, "/users/council", "application/activity+json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"preferredUsername\":\"council\""), "{body}");
    let (status, body) = get(&addr, "/@museum", "text/html").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Riverton Museum"));
    let (status, _) = get(
        &addr,
        "/users/museum/posts/nocturne",
        "application/activity+json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}

//! Catalog build costs at size, for `scripts/bench.sh` (a benchmark, not a test). One scenario
//! per run, printed as one JSON object:
//!
//! - `cold-start`: `App::open` of a site of N posts never served before (keys already made):
//!   every post read, rendered and recorded. Goal < 2 s at 10,000 posts.
//! - `unchanged-restart`: `App::open` again over the same data dir, nothing changed: every post
//!   from the render cache. Goal < 0.5 s at 10,000 posts.
//! - `save`: one post edited, then [`Catalog::build_changed_with`] with its path, as the watcher asks
//!   for it; p50/p99 over `--saves` edits, in a site of N posts and in one of 10, and one full
//!   [`Catalog::build`] for scale. Goal: a save in 10,000 posts costs about what it costs in 10.
//!
//! `cargo run --release --example bench_catalog -- --scenario NAME [--posts N] [--saves N]`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use masthead::app::App;
use masthead::catalog::outgoing::Unreviewed;
use masthead::catalog::Catalog;
use masthead::config::Site;
use masthead::store::{ActorKeys, Store};

#[path = "common/bench.rs"]
mod bench;
use bench::{arg, notice, number, percentile, round};

/// A post of about a kilobyte; `edit` is its revision.
fn post(i: usize, edit: usize) -> String {
    let day = 1 + i % 28;
    let date = format!("2025-{:02}-{day:02}T09:00:00Z", 1 + i % 12);
    let title = format!("Council notice {i}");
    notice(i, 1 + i % 9, &title, &date, &format!("revision {edit}"))
}

/// A site of `n` posts of one actor in a temp folder, its keys made.
fn site(n: usize) -> (tempfile::TempDir, Site) {
    let dir = tempfile::tempdir().unwrap();
    let news = dir.path().join("content/news");
    for i in 0..n {
        let folder = news.join(format!("{}", 2000 + i / 500));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("notice-{i}.md")), post(i, 0)).unwrap();
    }
    std::fs::write(
        dir.path().join("site.toml"),
        "[site]\nbase_url = \"https://social.city.example\"\n\n[[actor]]\nhandle = \"news\"\nname = \"City News\"\n",
    )
    .unwrap();
    let site = Site::load(&dir.path().join("site.toml")).unwrap().site;
    let store = Store::open(&site.data_dir).unwrap();
    ActorKeys::load(&store, ["news"]).unwrap();
    (dir, site)
}

fn seconds(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Milliseconds of each of `saves` edits of one post, rebuilt incrementally.
fn saves_ms(dir: &Path, site: &Site, saves: usize) -> Vec<f64> {
    let (app, _) = App::open(site.clone()).unwrap();
    let mut previous = Catalog::build(&app.site(), &app.urls, &app.store, chrono::Utc::now())
        .unwrap()
        .0;
    let file: PathBuf = dir.join("content/news/2000/notice-7.md");
    let mut out = Vec::new();
    for edit in 1..=saves {
        std::fs::write(&file, post(7, edit)).unwrap();
        let changed: BTreeSet<PathBuf> = [file.clone()].into();
        let t = Instant::now();
        let (next, report) = Catalog::build_changed_with(
            &app.site(),
            &app.urls,
            &app.store,
            chrono::Utc::now(),
            &previous,
            &changed,
            &Unreviewed,
        )
        .unwrap();
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
        previous = next;
    }
    out.sort_by(f64::total_cmp);
    out
}

fn main() {
    let scenario = arg("--scenario").expect("--scenario cold-start|unchanged-restart|save");
    let posts = number("--posts", 10_000);
    let (dir, site) = site(posts);
    let json = match scenario.as_str() {
        "cold-start" => {
            let s = seconds(|| drop(App::open(site.clone()).unwrap()));
            serde_json::json!({"scenario": "cold-start", "posts": posts, "seconds": round(s, 3), "goal": "< 2 s"})
        }
        "unchanged-restart" => {
            drop(App::open(site.clone()).unwrap());
            let s = seconds(|| drop(App::open(site.clone()).unwrap()));
            serde_json::json!({"scenario": "unchanged-restart", "posts": posts, "seconds": round(s, 3), "goal": "< 0.5 s"})
        }
        "save" => {
            let saves = number("--saves", 20);
            let big = saves_ms(dir.path(), &site, saves);
            let (small_dir, small_site) = self::site(10);
            let small = saves_ms(small_dir.path(), &small_site, saves);
            let (app, _) = App::open(site.clone()).unwrap();
            let full = seconds(|| {
                Catalog::build(&app.site(), &app.urls, &app.store, chrono::Utc::now()).unwrap();
            });
            serde_json::json!({
                "scenario": "save",
                "posts": posts,
                "p50_ms": round(percentile(&big, 50.0), 2),
                "p99_ms": round(percentile(&big, 99.0), 2),
                "p50_ms_in_10_posts": round(percentile(&small, 50.0), 2),
                "full_rebuild_ms": round(full * 1000.0, 1),
                "goal": "p50 about the same as in 10 posts",
            })
        }
        other => panic!("no scenario {other:?} (cold-start, unchanged-restart, save)"),
    };
    println!("{json}");
}

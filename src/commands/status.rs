//! `masthead status`: per actor, its followers, its share of the outgoing queue (queued, in
//! flight, failed, the next retry, hosts skipped as unavailable) and how far its last publication
//! got; then the publications held back (for a post a failing plugin holds, when the server's
//! rebuild task reviews it next, as it recorded in the store). Read from the store without
//! creating anything, printed for a person; `--watch` redraws it every second, with a progress
//! bar while a fan-out runs.
//!
//! The numbers come from `Store::actor_queues` and `Store::publications_on_hold`, the same that
//! `/metrics` serves; this file only finds the site and words them.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::plural;
use crate::app::AppError;
use crate::cli::StatusArgs;
use crate::commands::deliveries::{relative, utc};
use crate::config::Site;
use crate::store::{ActorQueue, NextReview, OnHold, Publish, Store};
use crate::urls::{percent_decode, Urls};

/// How often `--watch` redraws.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Characters of the progress bar.
const BAR: usize = 30;
/// How long a review of the posts a failing plugin held back may be overdue before `status`
/// asks whether the server runs: the rebuild thread looks at the clock every 250 ms, and the
/// review calls the plugin once per held post (each call up to 500 ms), so a running server
/// can be seconds late; one that is down is late for good.
const REVIEW_LATE: i64 = 60_000;

/// Prints the status once, or redraws it every second with `--watch` until interrupted.
pub fn run(args: StatusArgs) -> Result<ExitCode, Box<dyn Error>> {
    let config = &args.site.config;
    let data_dir = args.site.data_dir.as_deref();
    if !args.watch {
        print!(
            "{}",
            status_report(config, data_dir, crate::clock::now_ms())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout();
    loop {
        let report = status_report(config, data_dir, crate::clock::now_ms())?;
        // Home, clear screen, then the report: plain ANSI, so any terminal shows it.
        write!(
            out,
            "\x1b[H\x1b[2J{report}\n(refreshed every second; Ctrl-C to stop)\n"
        )?;
        out.flush()?;
        std::thread::sleep(WATCH_EVERY);
    }
}

/// What `masthead status` shows.
#[derive(Debug)]
pub struct StatusReport {
    /// The database read.
    pub db: PathBuf,
    /// Whether it exists (`serve` creates it).
    pub exists: bool,
    /// When the report was made (unix ms).
    pub now_ms: i64,
    pub actors: Vec<ActorStatus>,
    pub on_hold: Vec<OnHold>,
}

/// One actor's lines.
#[derive(Debug)]
pub struct ActorStatus {
    pub queue: ActorQueue,
    /// The file of the last publication's post, when it is one of ours the store knows.
    pub last_file: Option<String>,
}

/// Reads the status of the site configured in `config` (data dir overridden by `data_dir`) at
/// `now_ms`, without creating anything.
pub fn status_report(
    config: &Path,
    data_dir: Option<&Path>,
    now_ms: i64,
) -> Result<StatusReport, AppError> {
    let site = Site::load(config)?.site;
    let dir = data_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| site.data_dir.clone());
    let db = dir.join("masthead.db");
    let handles: Vec<&str> = site.actors.iter().map(|a| a.handle.as_str()).collect();
    if !db.exists() {
        let actors = handles
            .iter()
            .map(|h| ActorStatus {
                queue: ActorQueue {
                    actor: h.to_string(),
                    ..ActorQueue::default()
                },
                last_file: None,
            })
            .collect();
        return Ok(StatusReport {
            db,
            exists: false,
            now_ms,
            actors,
            on_hold: vec![],
        });
    }
    let store = Store::open(&dir)?;
    let urls = Urls::new(&site);
    let mut actors = Vec::new();
    for queue in store.actor_queues(&handles, now_ms)? {
        let last_file = match &queue.last_publish {
            Some(p) => post_slug(&urls, &queue.actor, &p.object_id)
                .map(|slug| store.post_source(&queue.actor, &slug))
                .transpose()?
                .flatten(),
            None => None,
        };
        actors.push(ActorStatus { queue, last_file });
    }
    Ok(StatusReport {
        db,
        exists: true,
        now_ms,
        actors,
        on_hold: store.publications_on_hold()?,
    })
}

/// The slug of `object_id` when it is a post of `handle`.
fn post_slug(urls: &Urls, handle: &str, object_id: &str) -> Option<String> {
    let prefix = urls.post(handle, "");
    let segment = object_id.strip_prefix(&prefix)?;
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    percent_decode(segment)
}

/// When a post held back by a failing plugin is reviewed next, after the hold's reason.
fn next_review(next: NextReview, now_ms: i64) -> String {
    let nth = next.reviews + 1;
    if next.at - now_ms > 0 {
        format!(
            "; next review {} ({}), review {nth}",
            relative(next.at - now_ms),
            utc(next.at)
        )
    } else if now_ms - next.at <= REVIEW_LATE {
        format!("; review {nth} is due now ({})", utc(next.at))
    } else {
        format!(
            "; review {nth} due since {}: is `masthead serve` running? (it reviews the post when it starts)",
            utc(next.at)
        )
    }
}

/// `[#########.....]` for `done` of `total`.
fn bar(done: usize, total: usize) -> String {
    let filled = (done * BAR).checked_div(total).unwrap_or(BAR).min(BAR);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR - filled))
}

impl ActorStatus {
    fn write(&self, f: &mut String, now_ms: i64) -> fmt::Result {
        let q = &self.queue;
        write!(
            f,
            "{}: {}",
            q.actor,
            plural(q.followers, "follower", "followers")
        )?;
        if q.follow_requests > 0 {
            write!(f, ", {} waiting for approval", q.follow_requests)?;
        }
        writeln!(f)?;
        if q.queued + q.in_flight + q.failed + q.delivered == 0 {
            writeln!(f, "  deliveries    none")?;
        } else {
            writeln!(
                f,
                "  deliveries    {} queued, {} in flight, {} failed, {} delivered (last 7 days)",
                q.queued, q.in_flight, q.failed, q.delivered
            )?;
        }
        if let Some(at) = q.next_retry_at {
            writeln!(f, "  next retry    {} ({})", utc(at), relative(at - now_ms))?;
        }
        if !q.unavailable_hosts.is_empty() {
            writeln!(
                f,
                "  unavailable   {} (skipped until they answer again)",
                q.unavailable_hosts.join(", ")
            )?;
        }
        match &q.last_publish {
            None => writeln!(f, "  last publish  none")?,
            Some(p) => self.write_publish(f, p)?,
        }
        Ok(())
    }

    fn write_publish(&self, f: &mut String, p: &Publish) -> fmt::Result {
        let what = self.last_file.as_deref().unwrap_or(&p.object_id);
        writeln!(
            f,
            "  last publish  {} of {what}, queued {}",
            p.kind,
            utc(p.queued_at)
        )?;
        write!(
            f,
            "                {} {} of {} inboxes done",
            bar(p.done + p.failed, p.inboxes),
            p.done,
            p.inboxes
        )?;
        if p.failed > 0 {
            write!(f, ", {} failed", p.failed)?;
        }
        if !p.finished() {
            write!(f, ", still sending")?;
        }
        writeln!(f)
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.exists {
            writeln!(
                f,
                "nothing sent yet: there is no database at {} (`masthead serve` creates it)",
                self.db.display()
            )?;
        }
        let mut out = String::new();
        for actor in &self.actors {
            out.push('\n');
            actor.write(&mut out, self.now_ms)?;
        }
        if self.on_hold.is_empty() {
            out.push_str("\nheld back: none\n");
        } else {
            writeln!(out, "\nheld back: {}", self.on_hold.len())?;
            for h in &self.on_hold {
                writeln!(
                    out,
                    "  {}/{}  {}  since {}: {}{}",
                    h.actor,
                    h.what,
                    h.change,
                    utc(h.since),
                    h.reason,
                    h.next_review
                        .map(|n| next_review(n, self.now_ms))
                        .unwrap_or_default()
                )?;
            }
        }
        f.write_str(out.trim_start_matches('\n'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_draw_a_bar_of_the_inboxes_answered() {
        assert_eq!(bar(0, 4), format!("[{}]", ".".repeat(BAR)));
        assert_eq!(bar(2, 4), format!("[{}{}]", "#".repeat(15), ".".repeat(15)));
        assert_eq!(bar(4, 4), format!("[{}]", "#".repeat(BAR)));
        // No inboxes at all: nothing is left to do.
        assert_eq!(bar(0, 0), format!("[{}]", "#".repeat(BAR)));
    }

    /// The report at `now_ms` (no actors) of two held posts: `embargo`, vetoed, and `flaky`,
    /// held by a failure and reviewed next as `next` says.
    fn held_report(now_ms: i64, next: Option<NextReview>) -> String {
        let held = |what: &str, reason: &str, next_review| OnHold {
            actor: "news".into(),
            what: what.into(),
            change: "create".into(),
            since: 1_700_000_000_000,
            reason: reason.into(),
            next_review,
        };
        StatusReport {
            db: PathBuf::from("data/masthead.db"),
            exists: true,
            now_ms,
            actors: vec![],
            on_hold: vec![
                held("embargo", "held back by plugin editor: no (...)", None),
                held(
                    "flaky",
                    "held back: plugin editor failed: trapped (...)",
                    next,
                ),
            ],
        }
        .to_string()
    }

    #[test]
    fn can_say_when_a_post_a_failing_plugin_held_back_is_reviewed_next() {
        let now = 1_700_000_090_000;
        let next = |at, reviews| Some(NextReview { at, reviews });
        assert_eq!(
            held_report(now, next(now + 90_000, 2)),
            "held back: 2\n\
             \x20 news/embargo  create  since 2023-11-14T22:13:20Z: held back by plugin editor: no (...)\n\
             \x20 news/flaky  create  since 2023-11-14T22:13:20Z: held back: plugin editor failed: trapped (...); next review in 1m (2023-11-14T22:16:20Z), review 3\n"
        );
        // The rebuild thread is at it (a review takes a moment): not yet a reason to worry.
        let report = held_report(now, next(now - 2_000, 0));
        assert!(
            report.ends_with("; review 1 is due now (2023-11-14T22:14:48Z)\n"),
            "{report}"
        );
        // Long overdue: the server is not running; no negative duration.
        let report = held_report(now + 3_600_000, next(now, 4));
        assert!(
            report.ends_with(
                "; review 5 due since 2023-11-14T22:14:50Z: is `masthead serve` running? (it reviews the post when it starts)\n"
            ),
            "{report}"
        );
        assert!(!report.contains("in -"), "{report}");
        // A veto and a failure-hold not scheduled yet say nothing of a review.
        let report = held_report(now, None);
        assert!(!report.contains("review "), "{report}");
    }
}

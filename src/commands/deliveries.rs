//! `masthead deliveries`: the outgoing delivery queue per host, read from the store without
//! creating anything, and printed for the operator. Sending is `federation::delivery`'s work.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::app::AppError;
use crate::cli::DeliveriesArgs;
use crate::config::Site;
use crate::store::{HostQueue, Store};

/// Prints the queue of the configured site.
pub fn run(args: DeliveriesArgs) -> Result<ExitCode, Box<dyn Error>> {
    let report = queue_report(&args.site.config, args.site.data_dir.as_deref())?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `masthead deliveries`: the queue per host, for the operator.
#[derive(Debug)]
pub struct QueueReport {
    /// The database read.
    pub db: PathBuf,
    /// Whether it exists (`serve` creates it).
    pub exists: bool,
    /// When the report was made (unix ms).
    pub now_ms: i64,
    /// Per host.
    pub hosts: Vec<HostQueue>,
}

/// Reads the delivery queue of the site configured in `config` (data dir overridden by
/// `data_dir`), without creating anything.
pub fn queue_report(config: &Path, data_dir: Option<&Path>) -> Result<QueueReport, AppError> {
    let site = Site::load(config)?.site;
    let dir = data_dir.map(Path::to_path_buf).unwrap_or(site.data_dir);
    let db = dir.join("masthead.db");
    let now_ms = crate::clock::now_ms();
    if !db.exists() {
        return Ok(QueueReport {
            db,
            exists: false,
            now_ms,
            hosts: vec![],
        });
    }
    let store = Store::open(&dir)?;
    Ok(QueueReport {
        db,
        exists: true,
        now_ms,
        hosts: store.delivery_queue()?,
    })
}

impl fmt::Display for QueueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.exists {
            return write!(
                f,
                "no deliveries: there is no database at {} yet (`masthead serve` creates it)",
                self.db.display()
            );
        }
        let pending: usize = self.hosts.iter().map(|h| h.pending).sum();
        let failed: usize = self.hosts.iter().map(|h| h.failed).sum();
        let done: usize = self.hosts.iter().map(|h| h.done).sum();
        writeln!(
            f,
            "deliveries: {pending} pending, {failed} failed, {done} delivered (last 7 days) in {}",
            self.db.display()
        )?;
        if self.hosts.is_empty() {
            return Ok(());
        }
        let width = self
            .hosts
            .iter()
            .map(|h| h.host.len())
            .max()
            .unwrap_or(0)
            .max(4);
        write!(
            f,
            "\n{:<width$}  {:>7}  {:>6}  {:>4}  {:<30}  LAST ERROR",
            "HOST", "PENDING", "FAILED", "DONE", "NEXT ATTEMPT"
        )?;
        for h in &self.hosts {
            let next = match h.next_attempt_at {
                Some(at) => format!("{} ({})", utc(at), relative(at - self.now_ms)),
                None => "-".into(),
            };
            let mut error = h.last_error.clone().unwrap_or_else(|| "-".into());
            if let Some(since) = h.unavailable_since {
                error = format!("UNAVAILABLE since {} (skipped); {error}", utc(since));
            }
            write!(
                f,
                "\n{:<width$}  {:>7}  {:>6}  {:>4}  {:<30}  {error}",
                h.host, h.pending, h.failed, h.done, next
            )?;
        }
        Ok(())
    }
}

pub(super) fn utc(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(crate::federation::objects::time)
        .unwrap_or_else(|| ms.to_string())
}

pub(super) fn relative(ms: i64) -> String {
    if ms <= 0 {
        return "due".into();
    }
    let s = ms / 1000;
    match s {
        0..60 => format!("in {s}s"),
        60..3600 => format!("in {}m", s / 60),
        3600..86400 => format!("in {}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("in {}d{}h", s / 86400, s % 86400 / 3600),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_show_times_relative_to_now() {
        assert_eq!(relative(-5), "due");
        assert_eq!(relative(15_000), "in 15s");
        assert_eq!(relative(5_400_000), "in 1h30m");
        assert_eq!(relative(2 * 86_400_000 + 3_600_000), "in 2d1h");
    }
}

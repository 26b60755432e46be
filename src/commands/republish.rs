//! `masthead republish [POST|--all]`: queues an `Update` of posts whose files did not change,
//! for the followers, and prints what was queued. The work (reading the posts as `serve` would,
//! queueing the activities) is [`app::republish`]; a running `serve` sends the rows at its
//! next look at the queue (within its poll interval), or the next `serve` does.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::app::{self, Republished};
use crate::cli::RepublishArgs;

/// Queues the Updates `args` asks for and prints them.
pub fn run(args: RepublishArgs) -> Result<ExitCode, Box<dyn Error>> {
    let done = app::republish(&args.site.config, args.site.data_dir, args.post.as_deref())?;
    print!("{}", print_republished(&done));
    Ok(ExitCode::SUCCESS)
}

/// One line per post, then the total and when it goes out.
fn print_republished(done: &[Republished]) -> String {
    if done.is_empty() {
        return "no posts to republish\n".to_string();
    }
    let mut out = String::new();
    for r in done {
        let _ = writeln!(
            out,
            "{}/{}: Update queued for {} inbox{}",
            r.actor,
            r.slug,
            r.inboxes,
            if r.inboxes == 1 { "" } else { "es" }
        );
    }
    let total: usize = done.iter().map(|r| r.inboxes).sum();
    let _ = writeln!(
        out,
        "{} post{} republished, {total} deliveries queued (a running `masthead serve` sends them within its poll interval; otherwise the next `serve` does)",
        done.len(),
        if done.len() == 1 { "" } else { "s" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_print_what_was_queued() {
        let done = [
            Republished {
                actor: "news".into(),
                slug: "hello".into(),
                inboxes: 2,
            },
            Republished {
                actor: "desk".into(),
                slug: "open".into(),
                inboxes: 1,
            },
        ];
        assert_eq!(
            print_republished(&done),
            "news/hello: Update queued for 2 inboxes\ndesk/open: Update queued for 1 inbox\n2 posts republished, 3 deliveries queued (a running `masthead serve` sends them within its poll interval; otherwise the next `serve` does)\n"
        );
        assert_eq!(print_republished(&[]), "no posts to republish\n");
    }
}

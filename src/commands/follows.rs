//! `masthead follows pending|approve|reject`: the follows waiting for approval, and the
//! operator's answer to one. Finding and answering them is `admin`'s work.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use super::listing;
use crate::admin::{self, AdminError};
use crate::cli::{FollowAnswerArgs, FollowsAction, FollowsArgs};
use crate::config::Site;
use crate::federation::fetch::plain_text;
use crate::federation::inbox::FollowAnswer;
use crate::store::{Follower, Store};

/// Lists the pending follows, or approves or rejects one.
pub fn run(args: FollowsArgs) -> Result<ExitCode, Box<dyn Error>> {
    let (site, store) = admin::open(&args.site.config, args.site.data_dir)?;
    match args.action {
        FollowsAction::Pending(f) => {
            let list = admin::pending_follows(&site, &store, f.actor.as_deref())?;
            print!("{}", print_follows(&list));
        }
        FollowsAction::Approve(a) => answer(&site, &store, a, FollowAnswer::Accept)?,
        FollowsAction::Reject(a) => answer(&site, &store, a, FollowAnswer::Reject)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn answer(
    site: &Site,
    store: &Store,
    args: FollowAnswerArgs,
    answer: FollowAnswer,
) -> Result<(), AdminError> {
    let f = admin::answer_follow(site, store, args.actor.as_deref(), &args.follower, answer)?;
    match answer {
        FollowAnswer::Accept => println!(
            "approved: {} now follows {} (Accept queued)",
            plain_text(&f.follower),
            f.actor
        ),
        FollowAnswer::Reject => println!(
            "rejected: {} does not follow {} (Reject queued)",
            plain_text(&f.follower),
            f.actor
        ),
    }
    Ok(())
}

/// Pending follows, one per line, then how to approve one. The follower's id came from another
/// server: it is printed as [`plain_text`].
fn print_follows(follows: &[Follower]) -> String {
    let mut out = listing(follows, "no follows waiting for approval", |out, f| {
        writeln!(
            out,
            "{}  wants to follow {}  (since {})",
            plain_text(&f.follower),
            f.actor,
            f.created_at
        )
    });
    if !follows.is_empty() {
        out.push_str("approve with: masthead follows approve --actor HANDLE FOLLOWER\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_terminal_escapes_in_a_followers_id() {
        let f = Follower {
            follow_id: "https://r.example/f/1".into(),
            inbox: "https://r.example/users/a/inbox".into(),
            created_at: "2026-11-20".into(),
            ..Follower::example("desk", "https://r.example/users/a\u{1b}[1A\u{1b}[2Kfake")
        };
        assert_eq!(
            print_follows(&[f]).lines().next(),
            Some("https://r.example/users/a[1A[2Kfake  wants to follow desk  (since 2026-11-20)")
        );
    }
}

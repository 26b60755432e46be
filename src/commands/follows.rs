//! `masthead follows pending|approve|reject`: the follows waiting for approval, and the
//! operator's answer to one. Finding and answering them is `admin`'s work.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use super::listing;
use crate::admin::{self, AdminError};
use crate::cli::{FollowAnswerArgs, FollowsAction, FollowsArgs};
use crate::config::Site;
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
            f.follower, f.actor
        ),
        FollowAnswer::Reject => println!(
            "rejected: {} does not follow {} (Reject queued)",
            f.follower, f.actor
        ),
    }
    Ok(())
}

/// Pending follows, one per line, then how to approve one.
fn print_follows(follows: &[Follower]) -> String {
    let mut out = listing(follows, "no follows waiting for approval", |out, f| {
        writeln!(
            out,
            "{}  wants to follow {}  (since {})",
            f.follower, f.actor, f.created_at
        )
    });
    if !follows.is_empty() {
        out.push_str("approve with: masthead follows approve --actor HANDLE FOLLOWER\n");
    }
    out
}

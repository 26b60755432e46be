//! `masthead publish [--confirm]`: the removals waiting for their Delete, and the operator's
//! go-ahead for a held mass removal.
//!
//! A Delete is final on every server that receives it, so masthead does not send one the moment
//! a file disappears: a removal waits out `[site] delete_grace_secs`, and more than
//! `[site] mass_delete_threshold` at once (a branch switch, a botched `git pull`) are held until
//! `--confirm`. Confirming makes them due now; a running `masthead serve` sends them within
//! seconds, else the next start does. There is no `--discard`: putting the files back is how a
//! removal is undone (the posts are served on and nothing is sent), and a discard that kept
//! serving posts whose files are gone would leave posts no file stands for.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use super::listing;
use crate::admin;
use crate::cli::PublishArgs;
use crate::clock::now_ms;
use crate::store::HeldRemoval;

/// Lists the removals waiting for their Delete; with `--confirm`, makes the held ones due now.
pub fn run(args: PublishArgs) -> Result<ExitCode, Box<dyn Error>> {
    let (site, store) = admin::open(&args.site.config, args.site.data_dir.clone())?;
    let now = now_ms();
    let actors = crate::app::held_actor_removals(&site, &store)?;
    if args.confirm {
        let n = store.confirm_held_removals(now)?;
        // Actors removed from site.toml: their Delete (which makes every server drop their
        // followers) waits for this confirmation too.
        for (actor, rows) in
            crate::app::confirm_actor_removals(&args.site.config, args.site.data_dir)?
        {
            println!(
                "confirmed the removal of actor {actor}: its Delete is queued to {rows} inbox(es)"
            );
        }
        if n == 0 && actors.is_empty() {
            println!("no mass removal is held; nothing to confirm");
        } else if n > 0 {
            println!(
                "confirmed {n} removal{}: a running `masthead serve` sends the Deletes within seconds, else the next start does",
                if n == 1 { "" } else { "s" }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", print_removals(&store.held_removals()?, now));
    for actor in actors {
        println!(
            "actor {actor} was removed from site.toml: it answers 410, and its Delete is HELD until `masthead publish --confirm` (or put it back in site.toml)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The removals waiting, held ones first, then what to do.
pub fn print_removals(removals: &[HeldRemoval], now_ms: i64) -> String {
    let mut out = listing(
        removals,
        "no removal is waiting for its Delete",
        |out, r| {
            let wait = match r.due_at {
                None => "HELD until `masthead publish --confirm`".to_string(),
                Some(due) => format!("Delete in {} s", ((due - now_ms).max(0) + 999) / 1000),
            };
            writeln!(
                out,
                "{}/{}  {}  file gone: {}",
                r.actor,
                r.slug,
                wait,
                r.source.display()
            )
        },
    );
    let held = removals.iter().filter(|r| r.is_held()).count();
    if held > 0 {
        let _ = writeln!(
            out,
            "\n{held} post{} held as a mass removal; still served, nothing sent. Run `masthead publish --confirm` to send their Deletes, or put the files back to keep them.",
            if held == 1 { " is" } else { "s are" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn removal(slug: &str, due_at: Option<i64>) -> HeldRemoval {
        HeldRemoval {
            actor: "news".into(),
            slug: slug.into(),
            source: PathBuf::from(format!("content/news/{slug}.md")),
            missing_since: 1_000,
            due_at,
        }
    }

    #[test]
    fn can_print_held_and_waiting_removals_with_what_to_do() {
        let shown = print_removals(&[removal("a", None), removal("b", Some(31_000))], 1_500);
        assert_eq!(
            shown,
            "news/a  HELD until `masthead publish --confirm`  file gone: content/news/a.md\n\
             news/b  Delete in 30 s  file gone: content/news/b.md\n\
             \n1 post is held as a mass removal; still served, nothing sent. Run `masthead publish --confirm` to send their Deletes, or put the files back to keep them.\n"
        );
        assert_eq!(
            print_removals(&[], 0),
            "no removal is waiting for its Delete\n"
        );
    }
}

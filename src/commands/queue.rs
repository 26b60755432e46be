//! `masthead queue`, `masthead approve ID...` and `masthead reject ID...`: the one place where a
//! person decides on what was held for them (replies, mentions, follows), with who held each and
//! why. Finding and deciding is `admin`'s work; this file prints.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use super::{listing, text_of};
use crate::admin::{self, Decided, Decision, QueueItem};
use crate::cli::{DecideArgs, QueueArgs};
use crate::federation::fetch::plain_text;
use crate::federation::inbox::FollowAnswer;
use crate::store::{Hold, Reply, ReplyStatus};

/// How much of a reply's text the listing shows.
const SNIPPET_CHARS: usize = 100;

/// Prints the queue.
pub fn list(args: QueueArgs) -> Result<ExitCode, Box<dyn Error>> {
    let (_site, store) = admin::open(&args.site.config, args.site.data_dir)?;
    let items = admin::queue(&store, args.all)?;
    print!("{}", print_queue(&items, args.all));
    Ok(ExitCode::SUCCESS)
}

/// Approves or rejects each id in turn; one that fails is reported and the others still decided.
pub fn decide(args: DecideArgs, decision: Decision) -> Result<ExitCode, Box<dyn Error>> {
    let (site, store) = admin::open(&args.site.config, args.site.data_dir)?;
    let mut failed = false;
    for id in &args.ids {
        match admin::decide(&site, &store, id, decision) {
            Ok(done) => println!("{}", print_decided(&done)),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Each item: its id, what it is, from whom and when; the start of a reply's text; who held it
/// and why. What came from another server is printed as [`plain_text`] (no terminal escapes).
fn print_queue(items: &[QueueItem], all: bool) -> String {
    let none = if all {
        "nothing held, hidden or rejected"
    } else {
        "the queue is empty"
    };
    let mut out = listing(items, none, |out, item| {
        let id = item.id().to_string();
        match item {
            QueueItem::Reply(q) => {
                let r = &q.item;
                let state = match r.status {
                    ReplyStatus::Held | ReplyStatus::Visible => "",
                    ReplyStatus::Hidden => " [hidden]",
                    ReplyStatus::Rejected => " [rejected]",
                };
                writeln!(
                    out,
                    "{id:<5} {}{state}  from {}  at {}",
                    what(r),
                    plain_text(&r.author),
                    plain_text(&q.received_at)
                )?;
                writeln!(out, "      {}", snippet(&r.content_html))?;
                let verb = match r.status {
                    ReplyStatus::Hidden => "hidden",
                    _ => "held",
                };
                writeln!(out, "      {}", why(verb, r.hold.as_ref()))
            }
            QueueItem::Follow(q) => {
                let f = &q.item;
                writeln!(
                    out,
                    "{id:<5} follow of {}  from {}  at {}",
                    f.actor,
                    plain_text(&f.follower),
                    plain_text(&q.received_at)
                )?;
                writeln!(out, "      {}", why("held", f.hold.as_ref()))
            }
        }
    });
    if !items.is_empty() {
        out.push_str("decide with: masthead approve ID... | masthead reject ID...\n");
    }
    out
}

/// `reply to news/hello`, or `mention of news, desk`.
fn what(r: &Reply) -> String {
    match &r.post {
        Some((h, s)) => format!("reply to {h}/{s}"),
        None => format!("mention of {}", r.mentions.join(", ")),
    }
}

/// The start of the text, on one line.
fn snippet(html: &str) -> String {
    let text = plain_text(&text_of(html));
    if text.chars().count() <= SNIPPET_CHARS {
        return text;
    }
    let cut: String = text.chars().take(SNIPPET_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// `held by plugin spam-words: contains "casino"`.
fn why(verb: &str, hold: Option<&Hold>) -> String {
    match hold {
        Some(h) => format!(
            "{verb} by {}: {}",
            plain_text(&h.by.to_string()),
            plain_text(&h.reason)
        ),
        None => format!("{verb}; no reason was recorded"),
    }
}

fn print_decided(done: &Decided) -> String {
    match done {
        Decided::Reply { id, reply } => {
            let kind = if reply.post.is_some() {
                "reply"
            } else {
                "mention"
            };
            let author = plain_text(&reply.author);
            match (reply.status, &reply.post) {
                (ReplyStatus::Visible, Some((h, s))) => {
                    format!("approved {id}: the {kind} by {author} now shows under {h}/{s}")
                }
                (ReplyStatus::Visible, None) => {
                    format!("approved {id}: the {kind} by {author} is no longer held")
                }
                _ => format!("rejected {id}: the {kind} by {author} is never shown"),
            }
        }
        Decided::Follow { id, follow, answer } => {
            let follower = plain_text(&follow.follower);
            match answer {
                FollowAnswer::Accept => format!(
                    "approved {id}: {follower} now follows {} (Accept queued)",
                    follow.actor
                ),
                FollowAnswer::Reject => format!(
                    "rejected {id}: {follower} does not follow {} (Reject queued)",
                    follow.actor
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::QueueId;
    use crate::store::{Follower, HeldBy, Queued};

    fn reply(status: ReplyStatus, html: &str, hold: Option<Hold>) -> Reply {
        Reply {
            mentions: vec!["news".into()],
            content_html: html.into(),
            status,
            hold,
            ..Reply::example("https://r.example/n/1", "https://r.example/users/a")
        }
    }

    fn follow(hold: Option<Hold>) -> Follower {
        Follower {
            follow_id: "https://r.example/f/1".into(),
            created_at: "2026-11-20T12:00:00Z".into(),
            hold,
            ..Follower::example("desk", "https://r.example/users/b")
        }
    }

    #[test]
    fn can_print_the_queue_with_who_held_each_item_and_why() {
        let mut mention = reply(
            ReplyStatus::Hidden,
            "<p>@news win a prize</p>",
            Some(Hold::new(
                HeldBy::Plugin("spam-words".into()),
                "contains \"prize\"",
            )),
        );
        mention.post = None;
        let items = vec![
            QueueItem::Reply(Queued {
                no: 1,
                received_at: "2026-11-20T10:00:01Z".into(),
                item: reply(
                    ReplyStatus::Held,
                    "<p>Nice &amp; <b>clear</b></p>",
                    Some(Hold::new(HeldBy::Moderation, "r.example is silenced")),
                ),
            }),
            QueueItem::Follow(Queued {
                no: 2,
                received_at: "2026-11-20T12:00:00Z".into(),
                item: follow(Some(Hold::new(
                    HeldBy::ManualApproval,
                    "desk approves its followers by hand",
                ))),
            }),
            QueueItem::Reply(Queued {
                no: 13,
                received_at: "2026-11-20T13:00:00Z".into(),
                item: mention,
            }),
        ];
        assert_eq!(
            print_queue(&items, true),
            "\
r1    reply to news/hello  from https://r.example/users/a  at 2026-11-20T10:00:01Z
      Nice & clear
      held by moderation: r.example is silenced
f2    follow of desk  from https://r.example/users/b  at 2026-11-20T12:00:00Z
      held by manual approval: desk approves its followers by hand
r13   mention of news [hidden]  from https://r.example/users/a  at 2026-11-20T13:00:00Z
      @news win a prize
      hidden by plugin spam-words: contains \"prize\"
decide with: masthead approve ID... | masthead reject ID...
"
        );
        assert_eq!(print_queue(&[], false), "the queue is empty\n");
        assert_eq!(print_queue(&[], true), "nothing held, hidden or rejected\n");
    }

    #[test]
    fn rejects_terminal_escapes_and_long_text_in_the_queue() {
        let long = format!("<p>{}</p>", "word ".repeat(40));
        let mut r = reply(
            ReplyStatus::Held,
            &long,
            Some(Hold::new(
                HeldBy::Plugin("x".into()),
                "bad\u{1b}[2Kreason\u{7}",
            )),
        );
        r.author = "https://r.example/users/a\u{1b}[31m".into();
        let out = print_queue(
            &[QueueItem::Reply(Queued {
                no: 4,
                received_at: "2026-11-20T10:00:00Z".into(),
                item: r,
            })],
            false,
        );
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(out.contains("held by plugin x: bad[2Kreason\n"), "{out}");
        let snippet = out.lines().nth(1).unwrap().trim();
        assert_eq!(snippet.chars().count(), 100, "{snippet}");
        assert!(snippet.ends_with("word…"), "{snippet}");
    }

    #[test]
    fn can_say_what_a_decision_did() {
        let id = QueueId {
            no: 3,
            follow: false,
        };
        let shown = Decided::Reply {
            id,
            reply: reply(ReplyStatus::Visible, "", None),
        };
        assert_eq!(
            print_decided(&shown),
            "approved r3: the reply by https://r.example/users/a now shows under news/hello"
        );
        let mut mention = reply(ReplyStatus::Rejected, "", None);
        mention.post = None;
        assert_eq!(
            print_decided(&Decided::Reply { id, reply: mention }),
            "rejected r3: the mention by https://r.example/users/a is never shown"
        );
        let f = Decided::Follow {
            id: QueueId {
                no: 4,
                follow: true,
            },
            follow: follow(None),
            answer: FollowAnswer::Reject,
        };
        assert_eq!(
            print_decided(&f),
            "rejected f4: https://r.example/users/b does not follow desk (Reject queued)"
        );
    }
}

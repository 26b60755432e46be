//! `masthead replies`: the replies to a post, or every reply and mention kept, printed for the
//! operator. Deciding on held ones is `masthead queue`'s; finding them is `admin`'s work.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use super::{listing, text_of};
use crate::admin;
use crate::cli::RepliesArgs;
use crate::federation::fetch::plain_text;
use crate::store::{Reply, ReplyStatus};

/// Prints the replies to `args.post`, or every reply and mention.
pub fn run(args: RepliesArgs) -> Result<ExitCode, Box<dyn Error>> {
    let (site, store) = admin::open(&args.site.config, args.site.data_dir)?;
    let list = admin::replies(&site, &store, args.post.as_deref())?;
    print!("{}", print_replies(&list));
    Ok(ExitCode::SUCCESS)
}

/// Replies: where, who, when, then the text without tags and the reply's address. What came from
/// another server is printed as [`plain_text`] (no terminal escapes).
fn print_replies(replies: &[Reply]) -> String {
    listing(replies, "no replies", |out, r| {
        let place = match (&r.post, r.mentions.is_empty()) {
            (Some((h, s)), _) => format!("{h}/{s}"),
            (None, false) => format!("mention of {}", r.mentions.join(", ")),
            (None, true) => "-".to_string(),
        };
        let held = match r.status {
            ReplyStatus::Visible => "",
            ReplyStatus::Held => " [held]",
            ReplyStatus::Hidden => " [hidden]",
            ReplyStatus::Rejected => " [rejected]",
        };
        writeln!(
            out,
            "{place}  {}  {}{held}",
            plain_text(&r.author),
            plain_text(&r.published)
        )?;
        writeln!(out, "  {}", plain_text(&text_of(&r.content_html)))?;
        writeln!(out, "  {}", plain_text(r.url.as_deref().unwrap_or(&r.id)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_print_replies_for_a_person() {
        let reply = Reply {
            content_html: "<p>Nice &amp; <b>clear</b></p>".into(),
            published: "2026-11-20T10:00:00+00:00".into(),
            status: ReplyStatus::Held,
            ..Reply::example("https://r.example/n/1", "https://r.example/users/a")
        };
        assert_eq!(
            print_replies(&[reply]),
            "news/hello  https://r.example/users/a  2026-11-20T10:00:00+00:00 [held]\n  Nice & clear\n  https://r.example/n/1\n"
        );
    }

    #[test]
    fn rejects_terminal_escapes_in_a_reply() {
        let reply = Reply {
            post: None,
            content_html: "<p>hi\u{1b}]8;;https://evil.example\u{7}there</p>".into(),
            published: "2026-11-20T10:00:00+00:00".into(),
            ..Reply::example(
                "https://r.example/n/1",
                "https://r.example/users/a\u{1b}[31m",
            )
        };
        let out = print_replies(&[reply]);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(
            out.contains("  hi]8;;https://evil.examplethere\n"),
            "{out:?}"
        );
    }
}

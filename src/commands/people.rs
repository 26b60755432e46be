//! `masthead people show|forget`: what masthead holds about one remote person, printed for the
//! person who asked (text, or one JSON document to hand over: an access request), and erasing it
//! (an erasure request). Finding and erasing is `admin`'s and the store's work.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::{json, Value};

use super::deliveries::utc;
use super::{plural, text_of};
use crate::admin::{self, Erased, Person};
use crate::cli::{PeopleAction, PeopleArgs};
use crate::federation::fetch::plain_text;
use crate::store::{DeliveryState, FollowState, InteractionKind, PersonData, ReplyStatus};

/// Runs `masthead people show` or `forget`.
pub fn run(args: PeopleArgs) -> Result<ExitCode, Box<dyn Error>> {
    match args.action {
        PeopleAction::Show(show) => {
            let (site, store) = admin::open_existing(&args.config, args.data_dir, true)?;
            let person = admin::person(&site, &store, &show.actor)?;
            if show.json {
                let doc = person_json(
                    &person,
                    site.base_url.as_str(),
                    &crate::federation::objects::time(chrono::Utc::now()),
                );
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!("{}", print_person(&person));
            }
        }
        PeopleAction::Forget(forget) => {
            if forget.yes {
                let (site, store) = admin::open_existing(&args.config, args.data_dir, false)?;
                let erased = admin::forget_person(&site, &store, &forget.actor)?;
                print!("{}", print_erased(&erased));
            } else {
                let (site, store) = admin::open_existing(&args.config, args.data_dir, true)?;
                let person = admin::person(&site, &store, &forget.actor)?;
                print!("{}", print_would_erase(&person, &forget.actor));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The first `n` characters of a reply's text, for a listing.
fn text_start(html: &str, n: usize) -> String {
    let text = plain_text(&text_of(html));
    match text.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text,
    }
}

fn status_word(status: ReplyStatus) -> &'static str {
    match status {
        ReplyStatus::Visible => "visible",
        ReplyStatus::Held => "held",
        ReplyStatus::Hidden => "hidden",
        ReplyStatus::Rejected => "rejected",
    }
}

fn kind_word(kind: InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Like => "like",
        InteractionKind::Announce => "boost",
    }
}

fn state_word(state: FollowState) -> &'static str {
    match state {
        FollowState::Pending => "pending",
        FollowState::Accepted => "accepted",
    }
}

fn delivery_word(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Done => "delivered",
        DeliveryState::Failed => "failed",
        DeliveryState::Cancelled => "cancelled",
    }
}

/// A section: its title and count, then its lines indented, or `title: none`.
fn section(out: &mut String, title: &str, lines: Vec<String>) {
    if lines.is_empty() {
        let _ = writeln!(out, "{title}: none");
        return;
    }
    let _ = writeln!(out, "{title} ({}):", lines.len());
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

/// Everything held about a person, for a person to read. All of it came from another server
/// but our handles and times: it is printed as [`plain_text`] (no terminal escapes).
fn print_person(person: &Person) -> String {
    let d = &person.data;
    let mut out = String::new();
    let handle = d
        .actor_document
        .as_ref()
        .and_then(|a| a.handle.as_deref())
        .map(|h| format!(" (@{})", plain_text(h)))
        .unwrap_or_default();
    let _ = writeln!(out, "{}{handle}", plain_text(&d.actor));
    if d.is_empty() && person.comments_files.is_empty() {
        out.push_str("masthead holds nothing about this actor\n");
        return out;
    }
    section(
        &mut out,
        "follows",
        d.follows
            .iter()
            .map(|f| {
                let held = f
                    .hold
                    .as_ref()
                    .map(|h| format!(", held by {}: {}", h.by, plain_text(&h.reason)))
                    .unwrap_or_default();
                format!(
                    "of {}: {} since {}{held}",
                    f.actor,
                    state_word(f.state),
                    plain_text(&f.created_at)
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "replies and mentions",
        d.replies
            .iter()
            .map(|r| {
                let place = match (&r.reply.post, r.reply.mentions.is_empty()) {
                    (Some((h, s)), _) => format!("reply to {h}/{s}"),
                    (None, false) => format!("mention of {}", r.reply.mentions.join(", ")),
                    (None, true) => "reply".to_string(),
                };
                format!(
                    "{place}, {}, {}: \"{}\"",
                    status_word(r.reply.status),
                    plain_text(&r.reply.published),
                    text_start(&r.reply.content_html, 60)
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "likes and boosts",
        d.interactions
            .iter()
            .map(|i| {
                format!(
                    "{} of {}/{}, {}",
                    kind_word(i.kind),
                    i.post.0,
                    i.post.1,
                    plain_text(&i.created_at)
                )
            })
            .collect(),
    );
    let report = |r: &crate::store::Report| {
        let about: Vec<String> = r.objects.iter().map(|o| plain_text(o)).collect();
        format!("{}, about {}", plain_text(&r.received_at), about.join(", "))
    };
    section(
        &mut out,
        "reports they filed",
        d.reports_filed.iter().map(report).collect(),
    );
    section(
        &mut out,
        "reports by others naming them (kept by forget)",
        d.reports_naming.iter().map(report).collect(),
    );
    match &d.actor_document {
        Some(a) => {
            let _ = writeln!(out, "actor document: cached, fetched {}", utc(a.fetched_at));
        }
        None => out.push_str("actor document: not cached\n"),
    }
    section(
        &mut out,
        "mentions resolved to them",
        d.refs
            .iter()
            .map(|r| format!("{}, {}", plain_text(&r.key), utc(r.resolved_at)))
            .collect(),
    );
    section(
        &mut out,
        "activities they sent, kept",
        d.inbox_activities
            .iter()
            .map(|a| {
                format!(
                    "{} {}, {}, {}",
                    plain_text(&a.kind),
                    plain_text(&a.id),
                    a.state,
                    utc(a.received_at)
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "deliveries to their inbox",
        d.deliveries
            .iter()
            .map(|dl| {
                format!(
                    "{} from {} to {}, {}, queued {}",
                    plain_text(&dl.kind),
                    dl.actor,
                    plain_text(&dl.inbox),
                    delivery_word(dl.state),
                    utc(dl.created_at)
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "answers plugins sent them",
        d.auto_replies
            .iter()
            .map(|a| format!("from {}, {}", a.actor, utc(a.created_at)))
            .collect(),
    );
    section(
        &mut out,
        "plugin data keyed by their actor id",
        d.plugin_kv
            .iter()
            .map(|kv| {
                format!(
                    "{}: {} ({} bytes)",
                    plain_text(&kv.plugin),
                    plain_text(&kv.key),
                    kv.value.len()
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "plugin labels and notes on their items",
        d.plugin_marks
            .iter()
            .map(|m| {
                format!(
                    "{} {} from {}: {}",
                    m.mark.kind,
                    plain_text(&m.mark.text),
                    plain_text(&m.mark.plugin),
                    plain_text(&m.item)
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "comments files showing them",
        person
            .comments_files
            .iter()
            .map(|(h, s)| format!("comments/{h}/{s}.json"))
            .collect(),
    );
    out
}

/// A stored JSON text as JSON (as a string when it does not parse).
fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Everything held about a person as one JSON document, to hand to them. `site` is the site's
/// base URL, `generated_at` when it was made.
fn person_json(person: &Person, site: &str, generated_at: &str) -> Value {
    let d = &person.data;
    let hold = |h: &Option<crate::store::Hold>| {
        h.as_ref()
            .map(|h| json!({ "by": h.by.to_string(), "reason": h.reason }))
    };
    let report = |r: &crate::store::Report| {
        json!({ "id": r.id, "reporter": r.reporter, "about": r.objects, "comment": r.content,
                "received_at": r.received_at })
    };
    json!({
        "actor": d.actor,
        "site": site,
        "generated_at": generated_at,
        "follows": d.follows.iter().map(|f| json!({
            "of": f.actor, "state": state_word(f.state), "since": f.created_at,
            "follow_id": f.follow_id, "inbox": f.inbox, "shared_inbox": f.shared_inbox,
            "held": hold(&f.hold),
        })).collect::<Vec<_>>(),
        "replies_and_mentions": d.replies.iter().map(|r| json!({
            "id": r.reply.id,
            "post": r.reply.post.as_ref().map(|(h, s)| format!("{h}/{s}")),
            "mentions": r.reply.mentions, "in_reply_to": r.reply.in_reply_to,
            "url": r.reply.url, "content_html": r.reply.content_html,
            "published": r.reply.published, "updated": r.reply.updated,
            "received_at": r.received_at, "status": status_word(r.reply.status),
            "public": r.reply.public, "held": hold(&r.reply.hold),
        })).collect::<Vec<_>>(),
        "likes_and_boosts": d.interactions.iter().map(|i| json!({
            "kind": kind_word(i.kind), "activity_id": i.activity_id,
            "post": format!("{}/{}", i.post.0, i.post.1), "at": i.created_at,
        })).collect::<Vec<_>>(),
        "reports_filed": d.reports_filed.iter().map(report).collect::<Vec<_>>(),
        "reports_by_others_naming_them": d.reports_naming.iter().map(report).collect::<Vec<_>>(),
        "actor_document": d.actor_document.as_ref().map(|a| json!({
            "fetched_at": utc(a.fetched_at), "handle": a.handle, "name": a.name,
            "document": parsed(&a.document),
        })),
        "mentions_resolved_to_them": d.refs.iter().map(|r| json!({
            "key": r.key, "name": r.name, "resolved_at": utc(r.resolved_at),
        })).collect::<Vec<_>>(),
        "activities_they_sent": d.inbox_activities.iter().map(|a| json!({
            "id": a.id, "type": a.kind, "to": a.recipient, "state": a.state,
            "received_at": utc(a.received_at), "activity": parsed(&a.body),
        })).collect::<Vec<_>>(),
        "deliveries_to_their_inbox": d.deliveries.iter().map(|dl| json!({
            "activity_id": dl.activity_id, "type": dl.kind, "from": dl.actor, "inbox": dl.inbox,
            "state": delivery_word(dl.state),
            "queued_at": utc(dl.created_at), "delivered_at": dl.delivered_at.map(utc),
            "activity": parsed(&dl.body),
        })).collect::<Vec<_>>(),
        "answers_plugins_sent_them": d.auto_replies.iter().map(|a| json!({
            "id": a.id, "from": a.actor, "public": a.public, "sent_at": utc(a.created_at),
            "note": parsed(&a.object),
        })).collect::<Vec<_>>(),
        "plugin_data": d.plugin_kv.iter().map(|kv| json!({
            "plugin": kv.plugin, "key": kv.key,
            "value": String::from_utf8(kv.value.clone()).map(Value::String).unwrap_or_else(
                |e| json!({ "bytes": e.into_bytes() })),
            "expires_at": kv.expires_at.map(utc),
        })).collect::<Vec<_>>(),
        "plugin_labels_and_notes": d.plugin_marks.iter().map(|m| json!({
            "item": m.item, "plugin": m.mark.plugin, "kind": m.mark.kind, "text": m.mark.text,
        })).collect::<Vec<_>>(),
        "comments_files": person.comments_files.iter()
            .map(|(h, s)| format!("comments/{h}/{s}.json")).collect::<Vec<_>>(),
    })
}

/// `n thing` or `n things`.
/// The lines of what `forget` erases (or would), each non-zero count once.
fn erase_lines(d: &ErasedCounts) -> Vec<String> {
    let mut lines = Vec::new();
    let mut add = |n: usize, one: &str, many: &str| {
        if n > 0 {
            lines.push(plural(n, one, many));
        }
    };
    add(d.follows, "follow", "follows");
    add(d.replies, "reply or mention", "replies and mentions");
    add(d.interactions, "like or boost", "likes and boosts");
    add(d.reports, "report they filed", "reports they filed");
    add(
        usize::from(d.actor_document),
        "cached actor document",
        "cached actor documents",
    );
    add(d.refs, "resolved mention", "resolved mentions");
    add(
        d.inbox_activities,
        "activity they sent",
        "activities they sent",
    );
    add(
        d.deliveries,
        "delivery to their inbox",
        "deliveries to their inbox",
    );
    add(
        d.auto_replies,
        "answer a plugin sent them",
        "answers plugins sent them",
    );
    add(d.plugin_kv, "plugin key", "plugin keys");
    add(
        d.plugin_marks,
        "plugin label or note",
        "plugin labels and notes",
    );
    lines
}

/// Counts of what is erased, from what `show` read or what `forget` did.
struct ErasedCounts {
    follows: usize,
    replies: usize,
    interactions: usize,
    reports: usize,
    actor_document: bool,
    refs: usize,
    inbox_activities: usize,
    deliveries: usize,
    auto_replies: usize,
    plugin_kv: usize,
    plugin_marks: usize,
}

impl From<&PersonData> for ErasedCounts {
    fn from(d: &PersonData) -> ErasedCounts {
        ErasedCounts {
            follows: d.follows.len(),
            replies: d.replies.len(),
            interactions: d.interactions.len(),
            reports: d.reports_filed.len(),
            actor_document: d.actor_document.is_some(),
            refs: d.refs.len(),
            inbox_activities: d.inbox_activities.len(),
            deliveries: d.deliveries.len(),
            auto_replies: d.auto_replies.len(),
            plugin_kv: d.plugin_kv.len(),
            plugin_marks: d.plugin_marks.len(),
        }
    }
}

const NOT_A_BLOCK: &str = "new activities from them are stored again like anyone's: erasure is not a block (to refuse them, add their actor id to [moderation] blocked_actors in site.toml)\n";

/// What `forget` without `--yes` prints: what it would erase, and how to go on.
fn print_would_erase(person: &Person, asked: &str) -> String {
    let d = &person.data;
    let mut out = String::new();
    let lines = erase_lines(&ErasedCounts::from(d));
    if lines.is_empty() && person.comments_files.is_empty() {
        let _ = writeln!(
            out,
            "masthead holds nothing about {}: nothing to erase",
            plain_text(&d.actor)
        );
        return out;
    }
    let _ = writeln!(out, "would erase about {}:", plain_text(&d.actor));
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
    for f in &d.follows {
        let _ = writeln!(out, "  and queue a Reject of their follow of {}", f.actor);
    }
    for (h, s) in &person.comments_files {
        let _ = writeln!(out, "  and rewrite comments/{h}/{s}.json without them");
    }
    if !d.reports_naming.is_empty() {
        let _ = writeln!(
            out,
            "kept: {} by others naming them (`masthead reports`)",
            plural(d.reports_naming.len(), "report", "reports")
        );
    }
    let _ = writeln!(
        out,
        "nothing was erased: to erase it, run `masthead people forget {} --yes`",
        plain_text(asked)
    );
    out
}

/// What `forget --yes` prints: what it erased, and that erasure is not a block.
fn print_erased(erased: &Erased) -> String {
    let f = &erased.forgotten;
    let mut out = String::new();
    let lines = erase_lines(&ErasedCounts {
        follows: f.follows.len(),
        replies: f.replies,
        interactions: f.interactions,
        reports: f.reports,
        actor_document: f.actor_document,
        refs: f.refs,
        inbox_activities: f.inbox_activities,
        deliveries: f.deliveries,
        auto_replies: f.auto_replies,
        plugin_kv: f.plugin_kv,
        plugin_marks: f.plugin_marks,
    });
    if lines.is_empty() && erased.comments_files.is_empty() {
        let _ = writeln!(
            out,
            "masthead held nothing about {}: nothing was erased",
            plain_text(&erased.actor)
        );
    } else {
        let _ = writeln!(out, "erased about {}:", plain_text(&erased.actor));
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
        for (follow, queued) in &f.follows {
            if *queued {
                let _ = writeln!(
                    out,
                    "  Reject of their follow of {} queued to {}",
                    follow.actor,
                    plain_text(&follow.inbox)
                );
            }
        }
        for (h, s) in &erased.comments_files {
            let _ = writeln!(out, "  comments/{h}/{s}.json rewritten without them");
        }
    }
    out.push_str(NOT_A_BLOCK);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Follower, PersonReply, Reply};

    fn person() -> Person {
        let actor = "https://r.example/users/a";
        let mut data = crate::store::Store::open_in_memory()
            .unwrap()
            .person(actor)
            .unwrap();
        data.follows.push(Follower {
            state: FollowState::Accepted,
            created_at: "2026-11-20T09:00:00+00:00".into(),
            ..Follower::example("news", actor)
        });
        data.replies.push(PersonReply {
            reply: Reply {
                content_html: "<p>Nice &amp; <b>clear</b>\u{1b}[2J, and long enough to be cut somewhere after sixty characters</p>".into(),
                ..Reply::example("https://r.example/n/1", actor)
            },
            received_at: "2026-11-20T10:00:01+00:00".into(),
        });
        Person {
            data,
            comments_files: vec![("news".into(), "hello".into())],
        }
    }

    #[test]
    fn can_print_what_is_held_about_a_person() {
        let out = print_person(&person());
        assert!(out.starts_with("https://r.example/users/a\nfollows (1):\n  of news: accepted since 2026-11-20T09:00:00+00:00\n"), "{out}");
        assert!(
            out.contains("replies and mentions (1):\n  reply to news/hello, visible, 2026-11-20T10:00:00Z: \"Nice & clear [2J, and long enough to be cut somewhere after…\"\n"),
            "{out}"
        );
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("likes and boosts: none\n"), "{out}");
        assert!(out.contains("actor document: not cached\n"), "{out}");
        assert!(
            out.ends_with("comments files showing them (1):\n  comments/news/hello.json\n"),
            "{out}"
        );
    }

    #[test]
    fn can_write_an_access_request_as_one_json_document() {
        let doc = person_json(&person(), "https://s.example/", "2026-11-21T00:00:00Z");
        assert_eq!(doc["actor"], "https://r.example/users/a");
        assert_eq!(doc["follows"][0]["of"], "news");
        assert_eq!(doc["follows"][0]["state"], "accepted");
        assert_eq!(
            doc["replies_and_mentions"][0]["id"],
            "https://r.example/n/1"
        );
        assert_eq!(doc["replies_and_mentions"][0]["post"], "news/hello");
        assert_eq!(doc["actor_document"], Value::Null);
        assert_eq!(doc["likes_and_boosts"], json!([]));
        assert_eq!(doc["comments_files"], json!(["comments/news/hello.json"]));
    }

    #[test]
    fn can_say_what_forget_would_erase_and_how_to_go_on() {
        let out = print_would_erase(&person(), "@a@r.example");
        assert_eq!(
            out,
            "would erase about https://r.example/users/a:\n  1 follow\n  1 reply or mention\n  and queue a Reject of their follow of news\n  and rewrite comments/news/hello.json without them\nnothing was erased: to erase it, run `masthead people forget @a@r.example --yes`\n"
        );
    }
}

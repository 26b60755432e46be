//! An inbox event as plugins see it: moderation's [`InboxEvent`] plus what the store knows of
//! the remote actor (name, handle, account age, whether they follow us) and the note's text
//! read out of its HTML (plain text, links).

use super::model::{Event, Note, NoteKind, ReactionKind, RemoteActor};
use super::runtime::Lookups;
use crate::clock::Clock;
use crate::moderation::{EventKind, InboxEvent, Interaction, ReplyNote};

/// The plugin event for `event`, or `None` when no hook is about it.
pub(super) fn for_plugins(event: &InboxEvent, lookups: &Lookups, clock: &Clock) -> Option<Event> {
    let actor_of = |target: &str| remote_actor(&event.actor, target, lookups, clock);
    Some(match &event.kind {
        EventKind::Follow { target, .. } => Event::Follow {
            actor: actor_of(target),
            target: target.clone(),
        },
        EventKind::Reply { note } | EventKind::ReplyEdited { note } => {
            let (target, kind) = match (&note.post, note.mentions.first()) {
                (Some(p), _) => (p.handle.clone(), NoteKind::Reply),
                (None, Some(h)) => (h.clone(), NoteKind::Mention),
                (None, None) => return None,
            };
            Event::Note {
                actor: actor_of(&target),
                kind,
                note: note_of(note, lookups),
                target,
            }
        }
        EventKind::Interaction { kind, post, .. } => Event::Reaction {
            actor: actor_of(&post.handle),
            target: post.handle.clone(),
            kind: match kind {
                Interaction::Like => ReactionKind::Like,
                Interaction::Announce => ReactionKind::Boost,
            },
            post: lookups.post(&post.handle, &post.slug),
            comment: None,
            objects: Vec::new(),
        },
        EventKind::Report {
            objects, content, ..
        } => Event::Reaction {
            actor: actor_of(""),
            target: String::new(),
            kind: ReactionKind::Report,
            post: None,
            comment: content.clone(),
            objects: objects.clone(),
        },
        _ => return None,
    })
}

/// What the store knows of the remote actor `id`, and whether it follows our `target`.
fn remote_actor(id: &str, target: &str, lookups: &Lookups, clock: &Clock) -> RemoteActor {
    let domain = url::Url::parse(id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let mut actor = RemoteActor {
        id: id.to_string(),
        domain,
        follows_us: !target.is_empty() && lookups.is_follower(target, id),
        ..RemoteActor::default()
    };
    let Ok(Some(known)) = lookups.store.remote_actor(id) else {
        return actor;
    };
    actor.handle = known.handle;
    actor.name = known.name;
    let doc: serde_json::Value = serde_json::from_str(&known.document).unwrap_or_default();
    actor.bot = matches!(
        doc.get("type").and_then(|t| t.as_str()),
        Some("Service" | "Application")
    );
    actor.account_age_days = doc
        .get("published")
        .and_then(|p| p.as_str())
        .and_then(|p| chrono::DateTime::parse_from_rfc3339(p).ok())
        .map(|p| ((clock.now_ms() - p.timestamp_millis()).max(0) / 86_400_000) as u32);
    // Only when the server embeds its followers collection with a count.
    actor.follower_count = doc
        .get("followers")
        .and_then(|f| f.get("totalItems"))
        .and_then(|n| n.as_u64())
        .map(|n| n.min(u64::from(u32::MAX)) as u32);
    actor
}

fn note_of(note: &ReplyNote, lookups: &Lookups) -> Note {
    let (text, links) = read_html(&note.content_html);
    let d = &note.details;
    Note {
        id: note.id.clone(),
        url: note.url.clone(),
        text,
        html: note.content_html.clone(),
        summary: d.summary.as_deref().map(|s| read_html(s).0),
        links: links
            .into_iter()
            .filter(|l| !d.mentioned.contains(l))
            .collect(),
        mentions: d.mentioned.clone(),
        hashtags: d.hashtags.clone(),
        attachments: d
            .attachments
            .iter()
            .map(|a| super::model::Attachment {
                url: a.url.clone(),
                media_type: a.media_type.clone(),
                description: a.description.clone(),
            })
            .collect(),
        language: d.language.clone(),
        visibility: d.visibility,
        in_reply_to: note.in_reply_to.clone(),
        answers: note
            .post
            .as_ref()
            .and_then(|p| lookups.post(&p.handle, &p.slug)),
        published: note.published.clone(),
    }
}

/// The plain text of sanitized HTML (paragraphs and line breaks kept as new lines, entities
/// decoded) and the targets of its links, except hashtags and mentions (links whose text starts
/// with `#` or `@`).
pub fn read_html(html: &str) -> (String, Vec<String>) {
    let mut text = String::with_capacity(html.len());
    let mut links = Vec::new();
    let mut rest = html;
    let mut pending_href: Option<String> = None;
    while let Some(lt) = rest.find('<') {
        text.push_str(&decode(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "br" => text.push('\n'),
            "p" if tag.starts_with('/') => text.push_str("\n\n"),
            "a" if !tag.starts_with('/') => pending_href = attr(tag, "href").map(|h| decode(&h)),
            _ => {}
        }
        if let Some(href) = pending_href.take() {
            // The link's text says whether it is a hashtag or a mention.
            if !matches!(first_visible_char(rest), Some('#' | '@')) {
                links.push(href);
            }
        }
    }
    text.push_str(&decode(rest));
    (text.trim().to_string(), links)
}

/// The first character of `html` outside tags.
fn first_visible_char(html: &str) -> Option<char> {
    let mut in_tag = false;
    html.chars().find(|&c| match c {
        '<' => {
            in_tag = true;
            false
        }
        '>' => {
            in_tag = false;
            false
        }
        c => !in_tag && !c.is_whitespace(),
    })
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let i = tag.find(&format!("{name}=\""))?;
    let v = &tag[i + name.len() + 2..];
    Some(v[..v.find('"')?].to_string())
}

fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let entity = &rest[1..e];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => entity
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_read_text_and_links_out_of_html() {
        let html = r#"<p>Hi <span class="h-card"><a href="https://s.example/@news" class="u-url mention">@<span>news</span></a></span> &amp; friends</p><p>See <a href="https://spam.example/win?a=1&amp;b=2">this</a><br>and <a href="https://s.example/tags/win" class="mention hashtag">#<span>win</span></a></p>"#;
        let (text, links) = read_html(html);
        assert_eq!(text, "Hi @news & friends\n\nSee this\nand #win");
        assert_eq!(links, ["https://spam.example/win?a=1&b=2"]);
        assert_eq!(decode("&#233;t&#xE9; &bogus; &"), "été &bogus; &");
    }
}

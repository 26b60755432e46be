//! blocklist: rejects or holds follows, replies and mentions from listed domains (with their
//! subdomains) and accounts, shows some accounts' replies without their media, ignores reports
//! from some, and reads Mastodon's domain-block export. Pleroma's SimplePolicy for a publishing
//! account.
//!
//! ```toml
//! [[plugin]]
//! name = "blocklist"
//! path = "plugins/blocklist"
//! [plugin.config]
//! reject = ["spam.example", "https://social.example/users/troll"]  # suspend
//! hold = ["loud.example", "@shouty@social.example"]                 # silence
//! strip_media = ["nsfw.example"]
//! ignore_reports = ["reportspam.example"]
//! mastodon_csv = """
//! #domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate
//! spam.example,suspend,true,true,Spam farm,false
//! """
//! ```

use std::collections::HashMap;

use masthead_plugin::domains::{self, Domains};
use masthead_plugin::prelude::*;

masthead_plugin::config_table! {
    struct Config {
        /// domains (with subdomains), actor ids or handles whose follows, replies, mentions, likes
        /// and boosts are refused (Mastodon's suspend)
        reject: Option<Vec<String>>,
        /// domains (with subdomains), actor ids or handles whose follows, replies and mentions
        /// wait for a person (Mastodon's silence)
        hold: Option<Vec<String>>,
        /// domains (with subdomains), actor ids or handles whose replies are shown without their
        /// media
        strip_media: Option<Vec<String>>,
        /// domains (with subdomains), actor ids or handles whose reports are dropped
        ignore_reports: Option<Vec<String>>,
        /// the text of a Mastodon domain-block export (#domain,#severity,...)
        mastodon_csv: Option<String>,
    }
}

/// Accounts named by domain, actor id or handle.
#[derive(Default)]
struct Accounts {
    domains: Domains,
    ids: Vec<String>,
    handles: Vec<String>,
}

impl Accounts {
    fn add(&mut self, key: &str, entry: &str) -> Result<(), String> {
        let entry = entry.trim();
        if entry.contains("://") {
            self.ids.push(entry.to_string());
        } else if let Some((user, domain)) = entry.trim_start_matches('@').split_once('@') {
            let domain = domains::normalize(domain).map_err(|e| format!("`{key}`: {e}"))?;
            self.handles
                .push(format!("{}@{domain}", user.to_lowercase()));
        } else {
            self.domains.push(entry).map_err(|e| {
                format!("`{key}`: {e}, an actor id (https://...) or a handle (user@domain)")
            })?;
        }
        Ok(())
    }

    /// What names `actor` here: its id, its handle or its domain.
    fn find(&self, actor: &RemoteActor) -> Option<String> {
        if self.ids.contains(&actor.id) {
            return Some(actor.id.clone());
        }
        if let Some(handle) = &actor.handle {
            let handle = handle.trim_start_matches('@').to_lowercase();
            if self.handles.contains(&handle) {
                return Some(handle);
            }
        }
        self.domains.find(&actor.domain).map(str::to_string)
    }
}

#[derive(Default)]
struct Lists {
    reject: Accounts,
    hold: Accounts,
    strip_media: Accounts,
    ignore_reports: Accounts,
    /// The public comment of a domain, from Mastodon's export.
    comments: HashMap<String, String>,
}

impl Settings for Lists {
    type Table = Config;

    fn parse(c: Config) -> Result<Lists, String> {
        let mut lists = Lists::default();
        for (key, list, into) in [
            ("reject", &c.reject, &mut lists.reject),
            ("hold", &c.hold, &mut lists.hold),
            ("strip_media", &c.strip_media, &mut lists.strip_media),
            (
                "ignore_reports",
                &c.ignore_reports,
                &mut lists.ignore_reports,
            ),
        ] {
            for entry in list.iter().flatten() {
                into.add(key, entry)?;
            }
        }
        if let Some(csv) = &c.mastodon_csv {
            lists.import_mastodon(csv)?;
        }
        Ok(lists)
    }
}

impl Lists {
    /// Mastodon's domain-block export (Moderation > Federation > Export): a header
    /// `#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate` (columns
    /// found by name), or no header and one domain a line (each suspended).
    fn import_mastodon(&mut self, csv: &str) -> Result<(), String> {
        let rows = parse_csv(csv);
        let Some((_, first)) = rows.first() else {
            return Ok(());
        };
        let header: Vec<&str> = first.iter().map(|h| h.trim()).collect();
        let has_header = header.first().is_some_and(|h| h.starts_with('#'));
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (domain_at, severity_at) = if has_header {
            (column("#domain"), column("#severity"))
        } else {
            (Some(0), None)
        };
        let Some(domain_at) = domain_at else {
            return Err("`mastodon_csv`: the header has no #domain column".into());
        };
        let flag = |row: &[String], at: Option<usize>| {
            at.and_then(|i| row.get(i))
                .is_some_and(|v| v.trim() == "true")
        };
        let (media_at, reports_at, comment_at) = (
            column("#reject_media"),
            column("#reject_reports"),
            column("#public_comment"),
        );
        for (line, row) in rows.iter().skip(usize::from(has_header)) {
            let at = |e: String| format!("`mastodon_csv` line {line}: {e}");
            let written = row.get(domain_at).map_or("", |d| d.trim());
            if written.contains('*') {
                return Err(at(format!(
                    "`{written}` is obfuscated; write the real domain or delete the line"
                )));
            }
            let domain = domains::normalize(written).map_err(at)?;
            let severity = severity_at.and_then(|i| row.get(i)).map(|s| s.trim());
            match severity.unwrap_or("suspend") {
                "suspend" => self.reject.domains.push(&domain).map_err(at)?,
                "silence" => self.hold.domains.push(&domain).map_err(at)?,
                "noop" => {}
                other => {
                    return Err(at(format!(
                        "severity must be suspend | silence | noop, got \"{other}\""
                    )))
                }
            }
            if flag(row, media_at) {
                self.strip_media.domains.push(&domain).map_err(at)?;
            }
            if flag(row, reports_at) {
                self.ignore_reports.domains.push(&domain).map_err(at)?;
            }
            let comment = comment_at.and_then(|i| row.get(i)).map_or("", |c| c.trim());
            if !comment.is_empty() {
                self.comments.insert(domain, comment.to_string());
            }
        }
        Ok(())
    }

    /// Why `actor` is on `list`, for the operator: `on the reject list: spam.example (comment)`.
    fn why(&self, name: &str, list: &Accounts, actor: &RemoteActor) -> Option<String> {
        let what = list.find(actor)?;
        Some(match self.comments.get(&what) {
            Some(comment) => format!("on the {name} list: {what} ({comment})"),
            None => format!("on the {name} list: {what}"),
        })
    }
}

/// The records of a CSV text with their line numbers (RFC 4180 quoting; blank lines skipped).
fn parse_csv(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted) = (1, 1, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => row.push(std::mem::take(&mut field)),
            '\r' if !quoted => {}
            '\n' if !quoted => {
                row.push(std::mem::take(&mut field));
                if row.iter().any(|f| !f.trim().is_empty()) {
                    rows.push((start, std::mem::take(&mut row)));
                }
                row.clear();
                line += 1;
                start = line;
            }
            c => {
                line += usize::from(c == '\n');
                field.push(c);
            }
        }
    }
    row.push(field);
    if row.iter().any(|f| !f.trim().is_empty()) {
        rows.push((start, row));
    }
    rows
}

struct Blocklist;

impl Plugin for Blocklist {
    fn on_follow(event: FollowEvent) -> FollowDecision {
        let l = Lists::current();
        if let Some(why) = l.why("reject", &l.reject, &event.actor) {
            return FollowDecision::reject(why);
        }
        if let Some(why) = l.why("hold", &l.hold, &event.actor) {
            return FollowDecision::hold(why);
        }
        FollowDecision::accept()
    }

    fn on_note(event: NoteEvent) -> NoteDecision {
        let l = Lists::current();
        if let Some(why) = l.why("reject", &l.reject, &event.actor) {
            return NoteDecision::reject(why);
        }
        let decision = match l.why("hold", &l.hold, &event.actor) {
            Some(why) => NoteDecision::hold(why),
            None => NoteDecision::accept(),
        };
        match l.strip_media.find(&event.actor) {
            Some(_) if !event.note.attachments.is_empty() => decision.rewrite(Rewrite::StripMedia),
            _ => decision,
        }
    }

    fn on_reaction(event: ReactionEvent) -> ReactionVerdict {
        let l = Lists::current();
        if let Some(why) = l.why("reject", &l.reject, &event.actor) {
            return ReactionVerdict::Ignore(why);
        }
        if event.kind == ReactionKind::Report {
            if let Some(why) = l.why("ignore_reports", &l.ignore_reports, &event.actor) {
                return ReactionVerdict::Ignore(why);
            }
        }
        ReactionVerdict::Count
    }
}

masthead_plugin::register!(Blocklist, settings = Lists);

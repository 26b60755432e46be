//! Combining the plugins' answers to one event (the rules are in the module doc of
//! `crate::plugins`), and what a failing plugin's `on_error` means for each kind of event.

use std::sync::Arc;

use serde::Serialize;

use super::model::{Action, Decision, Event, OutgoingPost, Rewrite, Verdict};
use super::Slot;
use crate::config::{Grant, Mode, OnError};

/// The plugins' verdict on one inbox event and what follows from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Judgement {
    /// The final verdict.
    pub verdict: Verdict,
    /// The plugins whose verdict made it (the one that rejected, every one that held or hid).
    pub by: Vec<String>,
    /// Labels for the operator, with the plugin that gave each.
    pub labels: Vec<(String, String)>,
    /// Notes for the operator, with the plugin that wrote each.
    pub notes: Vec<(String, String)>,
    /// Replies to send as our actor (Markdown), with the plugin that wrote each; only for an
    /// accepted item and from plugins granted `reply`.
    pub replies: Vec<(String, String)>,
    /// Changes to how a kept note is shown.
    pub rewrites: Vec<Rewrite>,
}

impl Judgement {
    /// Nothing to say.
    pub fn accept() -> Judgement {
        Judgement {
            verdict: Verdict::Accept,
            by: Vec::new(),
            labels: Vec::new(),
            notes: Vec::new(),
            replies: Vec::new(),
            rewrites: Vec::new(),
        }
    }

    pub(super) fn from_outgoing(d: OutgoingDecision) -> Judgement {
        let verdict = match d.veto {
            Some(reason) => Verdict::Veto(reason),
            None => Verdict::Accept,
        };
        Judgement {
            verdict,
            by: d.by,
            ..Judgement::accept()
        }
    }
}

/// The plugins' decision on an outgoing post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutgoingDecision {
    /// Why the post is held back unpublished, when a plugin vetoed it (or failed).
    pub veto: Option<String>,
    /// The veto is a failing plugin's `on_error` (a timeout, a trap, a bad answer, a plugin
    /// not loaded), not its decision: asking again may well publish the post.
    pub failed: bool,
    /// The post as the plugins left it.
    pub post: OutgoingPost,
    /// The plugins that changed or vetoed it.
    pub by: Vec<String>,
}

/// How strong a note or reaction verdict is, for combining: a reject (or ignore) stops the
/// chain; otherwise the strongest wins.
fn rank(v: &Verdict) -> u8 {
    match v {
        Verdict::Accept => 0,
        Verdict::Escalate(_) | Verdict::Hold(_) => 1,
        Verdict::Hide(_) => 2,
        Verdict::Reject(_) | Verdict::Ignore(_) | Verdict::Veto(_) => 3,
    }
}

/// The verdict `on_error` stands for, for this kind of event.
fn on_error(policy: Option<OnError>, event: &Event, reason: String) -> Verdict {
    match (event, policy) {
        (Event::Reaction { .. }, None | Some(OnError::Accept)) => Verdict::Accept,
        (Event::Reaction { .. }, Some(OnError::Hold)) => Verdict::Escalate(reason),
        (Event::Reaction { .. }, Some(OnError::Reject)) => Verdict::Ignore(reason),
        (Event::Outgoing { .. }, Some(OnError::Accept)) => Verdict::Accept,
        (Event::Outgoing { .. }, _) => Verdict::Veto(reason),
        (_, None | Some(OnError::Hold)) => Verdict::Hold(reason),
        (_, Some(OnError::Accept)) => Verdict::Accept,
        (_, Some(OnError::Reject)) => Verdict::Reject(reason),
    }
}

/// One plugin's decision on `event`, or its `on_error` verdict (logged) when it failed; and
/// whether it failed.
fn ask(slot: &Slot, event: &Event) -> (Decision, bool) {
    let config = &slot.config;
    let result = match &slot.runtime {
        Some(rt) => {
            let span = tracing::debug_span!("plugin", plugin = %config.name, version = %rt.info.version, hook = event.hook());
            let _enter = span.enter();
            rt.call(event)
                .map_err(|e| (rt.info.version.clone(), e.to_string()))
        }
        None => Err((
            "-".to_string(),
            format!(
                "not loaded: {}",
                slot.problem.as_deref().unwrap_or("unknown")
            ),
        )),
    };
    match result {
        Ok(d) => (d, false),
        Err((version, error)) => {
            let policy = config.on_error;
            let verdict = on_error(
                policy,
                event,
                format!("plugin {} failed: {error}", config.name),
            );
            tracing::warn!(
                plugin = %config.name,
                version = %version,
                hook = event.hook(),
                error = %error,
                on_error = ?verdict,
                "plugin failed; on_error applies"
            );
            (Decision::of(verdict), true)
        }
    }
}

/// Combines the answers of the plugins that judge `event`'s actor.
pub(super) fn judge(slots: &[Arc<Slot>], event: &Event) -> Judgement {
    let mut out = Judgement::accept();
    let mut reasons: Vec<String> = Vec::new();
    let mut pending: Vec<(&str, bool, Decision)> = Vec::new();
    for slot in slots.iter().filter(|s| s.config.judges(event.target())) {
        let name = slot.config.name.as_str();
        let (decision, _) = ask(slot, event);
        if slot.config.mode == Mode::Shadow {
            tracing::info!(plugin = name, hook = event.hook(), decision = ?decision, "shadow plugin would have decided");
            continue;
        }
        let v = &decision.verdict;
        let stops = rank(v) == 3;
        if rank(v) > 0 {
            if rank(v) > rank(&out.verdict) {
                out.verdict = v.clone();
                out.by.clear();
                reasons.clear();
            }
            if rank(v) == rank(&out.verdict) {
                out.by.push(name.to_string());
                reasons.extend(v.reason().map(str::to_string));
            }
        }
        pending.push((name, slot.config.granted(Grant::Reply), decision));
        if stops {
            break;
        }
    }
    // Accumulated reasons of holds (and hides, escalations) read as one.
    out.verdict = match out.verdict {
        Verdict::Hold(_) => Verdict::Hold(reasons.join("; ")),
        Verdict::Hide(_) => Verdict::Hide(reasons.join("; ")),
        Verdict::Escalate(_) => Verdict::Escalate(reasons.join("; ")),
        v => v,
    };
    if rank(&out.verdict) == 3 {
        return out;
    }
    // The verdict is final: now the actions.
    for (name, may_reply, decision) in pending {
        for action in decision.actions {
            match action {
                Action::Label(l) => out.labels.push((name.to_string(), l)),
                Action::Note(n) => out.notes.push((name.to_string(), n)),
                Action::Reply(_) if out.verdict != Verdict::Accept => {
                    tracing::info!(plugin = name, verdict = ?out.verdict, "auto-reply not sent: the item is not accepted");
                }
                Action::Reply(_) if !may_reply => {
                    tracing::warn!(
                        plugin = name,
                        "reply refused: the plugin has no grants = [\"reply\"] in site.toml"
                    );
                }
                Action::Reply(m) => out.replies.push((name.to_string(), m)),
            }
        }
        out.rewrites.extend(decision.rewrites);
    }
    out
}

/// Runs `post` through the plugins of its actor, each seeing the changes of the ones before.
pub(super) fn outgoing(slots: &[Arc<Slot>], post: &OutgoingPost) -> OutgoingDecision {
    let mut out = OutgoingDecision {
        veto: None,
        failed: false,
        post: post.clone(),
        by: Vec::new(),
    };
    for slot in slots.iter().filter(|s| s.config.judges(&post.actor)) {
        let name = &slot.config.name;
        let event = Event::Outgoing {
            post: out.post.clone(),
        };
        let (d, failed) = ask(slot, &event);
        if slot.config.mode == Mode::Shadow {
            tracing::info!(plugin = %name, decision = ?d, "shadow plugin would have decided");
            continue;
        }
        if let Verdict::Veto(reason) = d.verdict {
            out.veto = Some(reason);
            out.failed = failed;
            out.by.push(name.clone());
            return out;
        }
        let mut changed = false;
        if let Some(cw) = d.content_warning {
            out.post.content_warning = Some(cw);
            changed = true;
        }
        if let Some(md) = d.markdown {
            out.post.markdown = md;
            changed = true;
        }
        for tag in d.add_hashtags {
            let tag = tag.trim_start_matches('#').to_string();
            if !tag.is_empty()
                && !out
                    .post
                    .hashtags
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&tag))
            {
                out.post.hashtags.push(tag);
                changed = true;
            }
        }
        if changed {
            out.by.push(name.clone());
        }
    }
    out
}

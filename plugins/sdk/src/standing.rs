//! An account's standing by what its server says of it: how old it is and how many follow it,
//! the two signals spam rules lean on (Pleroma's AntiLinkSpamPolicy and AntiFollowbotPolicy,
//! Akkoma's RejectNewlyCreatedAccountNotesPolicy). Either may be unknown: a server need not
//! publish an account's creation date or its follower count.

use crate::{RemoteActor, RuleAction};

/// The least an account needs: an age and a follower count (0 turns a threshold off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Whole days since the account was created.
    pub min_age_days: u32,
    /// Followers.
    pub min_followers: u32,
}

/// How an account measures up to [`Thresholds`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// It meets every threshold.
    Meets,
    /// It falls short of one; the text says which, e.g. `account 2 days old (under 7)` or
    /// `account with 0 followers (under 1)`.
    Short(String),
    /// It falls short of none that is known, but a threshold's value is not; the text says
    /// which: `age`, `follower count` or `age and follower count`.
    Unknown(String),
}

impl Thresholds {
    /// The thresholds written under `min_account_age_days` (default 7) and `min_followers`
    /// (default 1), each 0 or more.
    pub fn from_config(
        min_account_age_days: Option<i64>,
        min_followers: Option<i64>,
    ) -> Result<Thresholds, String> {
        let number = crate::config::whole_number;
        Ok(Thresholds {
            min_age_days: number("min_account_age_days", min_account_age_days)?.unwrap_or(7),
            min_followers: number("min_followers", min_followers)?.unwrap_or(1),
        })
    }

    /// How `actor` measures up: short of the age first, then of the followers.
    pub fn judge(&self, actor: &RemoteActor) -> Standing {
        let measures: [Measure; 2] = [
            (self.min_age_days, actor.account_age_days, "age", |age| {
                format!("account {age} {} old", plural(age, "day", "days"))
            }),
            (
                self.min_followers,
                actor.follower_count,
                "follower count",
                |n| format!("account with {n} {}", plural(n, "follower", "followers")),
            ),
        ];
        let mut unknown = Vec::new();
        for (min, value, name, short) in measures {
            match value {
                _ if min == 0 => {}
                Some(v) if v < min => {
                    return Standing::Short(format!("{} (under {min})", short(v)))
                }
                Some(_) => {}
                None => unknown.push(name),
            }
        }
        if unknown.is_empty() {
            Standing::Meets
        } else {
            Standing::Unknown(unknown.join(" and "))
        }
    }
}

impl Thresholds {
    /// What a rule whose `action` is taken against accounts short of these thresholds decides
    /// of an event from `actor`: let through when the account meets them, `action` when it falls
    /// short, held for a person when a value is unknown and `hold_unknown`, else let through.
    /// Each reason begins with `what` (`"links from "`; empty when the event is the account's
    /// own, a follow): `an account 2 days old (under 7)`, `an account of unknown age`.
    pub fn decide<A: RuleAction>(
        &self,
        actor: &RemoteActor,
        hold_unknown: bool,
        action: A,
        what: &str,
    ) -> A::Decision {
        match self.judge(actor) {
            Standing::Meets => A::accept(),
            Standing::Short(why) => action.decide(format!("{what}an {why}")),
            Standing::Unknown(why) if hold_unknown => {
                A::HOLD.decide(format!("{what}an account of unknown {why}"))
            }
            Standing::Unknown(_) => A::accept(),
        }
    }
}

/// A rule against accounts short of [`Thresholds`] (link-spam's, follow-gate's): what it does to
/// an event from an account short of them, and whether it holds one from an account whose
/// standing is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StandingRule<A> {
    pub thresholds: Thresholds,
    /// Whether an event from an account of [`Standing::Unknown`] is held (`when_unknown`).
    pub hold_unknown: bool,
    /// What is done to an event from an account short of the thresholds (`action`).
    pub action: A,
}

impl<A: RuleAction> StandingRule<A> {
    /// The rule with `thresholds` (see [`Thresholds::from_config`]) and the values written under
    /// `when_unknown` (see [`hold_unknown`]) and `action`, each given with its default.
    pub fn from_config(
        thresholds: Thresholds,
        (when_unknown, hold_unknown_default): (Option<&str>, bool),
        (action, action_default): (Option<&str>, A),
    ) -> Result<StandingRule<A>, String> {
        Ok(StandingRule {
            thresholds,
            hold_unknown: hold_unknown(when_unknown, hold_unknown_default)?,
            action: A::parse("action", action, action_default)?,
        })
    }

    /// [`Thresholds::decide`] with this rule's `hold_unknown` and `action`.
    pub fn decide(&self, actor: &RemoteActor, what: &str) -> A::Decision {
        self.thresholds
            .decide(actor, self.hold_unknown, self.action, what)
    }
}

/// Whether an account of [`Standing::Unknown`] is held, as written under `when_unknown`:
/// `hold` or `accept`, `default` when absent.
pub fn hold_unknown(written: Option<&str>, default: bool) -> Result<bool, String> {
    crate::one_of_or(
        "when_unknown",
        written,
        &[("accept", false), ("hold", true)],
        default,
    )
}

/// A threshold, the account's value, what an unknown value is called, and what a short one says.
type Measure = (u32, Option<u32>, &'static str, fn(u32) -> String);

fn plural<'a>(n: u32, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(age: Option<u32>, followers: Option<u32>) -> RemoteActor {
        RemoteActor {
            id: "https://r.example/users/a".into(),
            domain: "r.example".into(),
            handle: None,
            name: None,
            account_age_days: age,
            follower_count: followers,
            bot: false,
            follows_us: false,
        }
    }

    #[test]
    fn can_tell_short_unknown_and_meeting_accounts_apart() {
        let t = Thresholds {
            min_age_days: 7,
            min_followers: 2,
        };
        for (age, followers, want) in [
            (Some(30), Some(5), Standing::Meets),
            (
                Some(1),
                Some(5),
                Standing::Short("account 1 day old (under 7)".into()),
            ),
            (
                Some(6),
                None,
                Standing::Short("account 6 days old (under 7)".into()),
            ),
            (
                Some(7),
                Some(1),
                Standing::Short("account with 1 follower (under 2)".into()),
            ),
            (
                None,
                Some(0),
                Standing::Short("account with 0 followers (under 2)".into()),
            ),
            (None, Some(9), Standing::Unknown("age".into())),
            (
                None,
                None,
                Standing::Unknown("age and follower count".into()),
            ),
        ] {
            assert_eq!(
                t.judge(&account(age, followers)),
                want,
                "{age:?} {followers:?}"
            );
        }
    }

    #[test]
    fn can_read_thresholds_or_their_defaults() {
        let read = |age, followers| Thresholds::from_config(age, followers);
        let t = |min_age_days, min_followers| Thresholds {
            min_age_days,
            min_followers,
        };
        assert_eq!(read(None, None), Ok(t(7, 1)));
        assert_eq!(read(Some(0), Some(20)), Ok(t(0, 20)));
        assert_eq!(
            read(Some(3), Some(-2)),
            Err("`min_followers` must be 0 or more, got -2".into())
        );
    }

    #[test]
    fn can_turn_a_threshold_off_with_zero() {
        let t = Thresholds {
            min_age_days: 0,
            min_followers: 0,
        };
        assert_eq!(t.judge(&account(None, None)), Standing::Meets);
        let age_only = Thresholds {
            min_age_days: 3,
            min_followers: 0,
        };
        assert_eq!(age_only.judge(&account(Some(3), None)), Standing::Meets);
    }

    #[test]
    fn can_read_when_unknown_naming_its_default_first() {
        assert_eq!(hold_unknown(None, false), Ok(false));
        assert_eq!(hold_unknown(None, true), Ok(true));
        assert_eq!(hold_unknown(Some("hold"), false), Ok(true));
        assert_eq!(hold_unknown(Some("accept"), true), Ok(false));
        assert_eq!(
            hold_unknown(Some("maybe"), true),
            Err("`when_unknown` must be hold | accept, got \"maybe\"".to_string())
        );
        assert_eq!(
            hold_unknown(Some("maybe"), false),
            Err("`when_unknown` must be accept | hold, got \"maybe\"".to_string())
        );
    }

    #[test]
    fn can_read_a_standing_rule_and_decide_by_it() {
        // The default thresholds: 7 days, 1 follower.
        let t = Thresholds::from_config(None, None).unwrap();
        let rule = StandingRule::from_config(t, (None, true), (None, crate::NoteAction::Hide));
        assert_eq!(
            rule,
            Ok(StandingRule {
                thresholds: t,
                hold_unknown: true,
                action: crate::NoteAction::Hide,
            })
        );
        let rule = rule.unwrap();
        assert!(matches!(
            rule.decide(&account(Some(2), Some(5)), "links from ").verdict,
            crate::NoteVerdict::Hide(w) if w == "links from an account 2 days old (under 7)"
        ));
        assert!(matches!(
            rule.decide(&account(None, Some(5)), "").verdict,
            crate::NoteVerdict::Hold(w) if w == "an account of unknown age"
        ));
        assert!(matches!(
            rule.decide(&account(Some(30), Some(5)), "").verdict,
            crate::NoteVerdict::Accept
        ));
        let written = StandingRule::from_config(
            t,
            (Some("accept"), true),
            (Some("reject"), crate::FollowAction::Hold),
        );
        assert_eq!(
            written.map(|r| (r.hold_unknown, r.action)),
            Ok((false, crate::FollowAction::Reject))
        );
        assert_eq!(
            StandingRule::from_config(t, (None, true), (Some("hide"), crate::FollowAction::Hold)),
            Err("`action` must be hold | reject, got \"hide\"".to_string())
        );
    }
}

"""no-shouting: holds (or hides, rejects, or puts behind a content warning) a reply or mention
written in capitals, masthead's example plugin in Python.

Built with componentize-py against wit/v0.1.0 (the world `plugin`); see README.md beside this
file. The component snapshots this module after importing it, at build time, when there is no
host to ask: the config is therefore read on the first call, never at import.

    [[plugin]]
    name = "no-shouting"
    path = "plugins/python/no-shouting/no_shouting.wasm"
    [plugin.config]
    action = "hold"        # hold (default) | hide | reject | warn
    min_letters = 12       # texts with fewer letters are never shouting ("OK", "NASA")
    share = 0.7            # the share of capitals among the letters that counts as shouting
"""

import json

from wit_world import exports
from wit_world.imports import host, types
from wit_world.imports.types import (
    Action_Label,
    ConfigKey,
    ConfigType,
    FollowDecision,
    FollowVerdict_Accept,
    NoteDecision,
    NoteVerdict_Accept,
    NoteVerdict_Hide,
    NoteVerdict_Hold,
    NoteVerdict_Reject,
    OutgoingDecision,
    OutgoingVerdict_Publish,
    ReactionVerdict_Count,
    Rewrite_ContentWarning,
)

ACTIONS = ("hold", "hide", "reject", "warn")
LABEL = "shouting"
WARNING = "Written in capitals"


class Config:
    """`[plugin.config]`, checked once: the host has checked the keys and their types against
    `config_schema`; the values are checked here."""

    def __init__(self, table):
        self.action = table.get("action", "hold")
        if self.action not in ACTIONS:
            raise ValueError(
                f"config.action must be one of {', '.join(ACTIONS)}, got {self.action!r}"
            )
        self.min_letters = table.get("min_letters", 12)
        if self.min_letters < 1:
            raise ValueError(f"config.min_letters must be at least 1, got {self.min_letters}")
        self.share = float(table.get("share", 0.7))
        if not 0.5 < self.share <= 1.0:
            raise ValueError(
                f"config.share must be above 0.5 and at most 1.0, got {self.share}"
            )


_config = None


def config():
    global _config
    if _config is None:
        _config = Config(json.loads(host.config()))
    return _config


def words(text):
    """The words of `text` that a person typed: mentions, hashtags and links are left out
    (`@NASA`, `#EU`, a URL's path say nothing about the writer's tone)."""
    for word in text.split():
        if word.startswith(("@", "#", "http://", "https://")):
            continue
        yield word


def shouting(text, cfg):
    """Whether `text` is shouting: at least `min_letters` cased letters, and at least `share`
    of them capitals."""
    # `map` over str methods keeps the loop over characters in C: a character at a time in
    # Python costs about ten times more.
    kept = "".join(words(text))
    upper = sum(map(str.isupper, kept))
    letters = upper + sum(map(str.islower, kept))
    return letters >= cfg.min_letters and upper >= cfg.share * letters


def explained(hook):
    """Logs an exception a hook raises as an error before it reaches the host as a trap: the
    component's stderr is a stub (see README.md), and the host quotes the last error a plugin
    logged in the failing call in the reason of its `on_error` verdict."""

    def run(self, event):
        try:
            return hook(self, event)
        except Exception as e:
            host.log(types.Level.ERROR, f"{hook.__name__}: {type(e).__name__}: {e}")
            raise

    run.__name__ = hook.__name__
    return run


class Hooks(exports.Hooks):
    def config_schema(self):
        return [
            ConfigKey(
                "action",
                ConfigType.STRING,
                False,
                "what to do with a shouting reply: hold (default), hide, reject, or warn (show it behind a content warning)",
            ),
            ConfigKey(
                "min_letters",
                ConfigType.INTEGER,
                False,
                "texts with fewer letters are never shouting (default 12)",
            ),
            ConfigKey(
                "share",
                ConfigType.FLOAT,
                False,
                "the share of capitals among the letters from which a text is shouting: above 0.5, at most 1 (default 0.7)",
            ),
        ]

    def on_follow(self, event):
        return FollowDecision(FollowVerdict_Accept(), [])

    @explained
    def on_note(self, event):
        cfg = config()
        if not shouting(event.note.text, cfg):
            return NoteDecision(NoteVerdict_Accept(), [], [])
        why = "written in capitals"
        host.log(types.Level.DEBUG, f"{event.note.id}: {why}")
        label = [Action_Label(LABEL)]
        if cfg.action == "hold":
            return NoteDecision(NoteVerdict_Hold(why), label, [])
        if cfg.action == "hide":
            return NoteDecision(NoteVerdict_Hide(why), label, [])
        if cfg.action == "reject":
            return NoteDecision(NoteVerdict_Reject(why), [], [])
        return NoteDecision(NoteVerdict_Accept(), label, [Rewrite_ContentWarning(WARNING)])

    def on_reaction(self, event):
        return ReactionVerdict_Count()

    def on_outgoing(self, post):
        return OutgoingDecision(OutgoingVerdict_Publish(), None, None, [])

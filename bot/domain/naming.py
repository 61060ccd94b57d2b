"""How the domain's words name a person, a user group or a channel: by Slack ID, as people write them in plain
text (`@U0ALICE001`, `@S0DBALEADS`, `#C0DBAOPS01`; a group's handle as the rules write it, `@dba-leads`).

They are facts, not Slack markup: the handlers render them as mentions (handlers/blocks/mentions.py); the audit
trail and its export keep them as they are. Slack writes IDs in capitals and handles in lower case, so the two
never read alike.

Text from outside (a policy name, read from PlanetScale or typed) inside the domain's words is marked with
`outside`, so that the handlers show it as written and never take a part of it for a person to mention. The
marks stay in what is stored (a request's detail, an audit entry's), so that the entry read back is shown the
same way; whatever is not Slack (the audit export, the log) writes the words `unmarked`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Unicode's first-strong isolate and its pop: invisible, and meant for text of another origin set in a sentence.
OUTSIDE_START, OUTSIDE_END = "\u2068", "\u2069"
# One piece of text from outside as `outside` marks it: its own marks are written out, so none is inside.
MARKED = re.compile(f"{OUTSIDE_START}([^{OUTSIDE_START}{OUTSIDE_END}]*){OUTSIDE_END}")


def person(user: str) -> str:
    return f"@{user}"


def principal(name: str) -> str:
    """A person or a group as an access rule names it: an ID, or a group's `@handle`."""
    return name if name.startswith("@") else f"@{name}"


def principals(names: Iterable[str]) -> str:
    return ", ".join(principal(n) for n in names) or "nobody"


def channel(channel_id: str) -> str:
    return f"#{channel_id}"


def channels(channel_ids: Iterable[str]) -> str:
    return ", ".join(channel(c) for c in channel_ids)


def outside(text: str) -> str:
    """Text from outside set in the domain's words: isolated, its own isolate marks written out, so it ends
    where it ends."""
    inner = text.replace(OUTSIDE_START, "\\u2068").replace(OUTSIDE_END, "\\u2069")
    return f"{OUTSIDE_START}{inner}{OUTSIDE_END}"


PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")


def policy_id(text: str) -> str:
    """A policy's ID in the domain's words: as code where it holds only what IDs hold; else (PlanetScale's text,
    any) set apart as from outside, so that it is shown as written, never as markup."""
    return f"`{text}`" if PLAIN_ID.fullmatch(text) else f"“{outside(text)}”"


def unmarked(text: str) -> str:
    """The domain's words without the marks `outside` set, for a file, a log or a terminal: the text from
    outside reads as it was written (its own isolate marks still written out)."""
    return MARKED.sub(r"\1", text) if OUTSIDE_START in text else text

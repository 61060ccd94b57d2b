"""How the domain's words name a person, a user group or a channel: by Slack ID, as people write them in plain
text (`@U0ALICE001`, `@S0DBALEADS`, `#C0DBAOPS01`; a group's handle as the rules write it, `@dba-leads`).

They are facts, not Slack markup: the handlers render them as mentions (handlers/blocks/mentions.py); the audit
trail and its export keep them as they are. Slack writes IDs in capitals and handles in lower case, so the two
never read alike.
"""

from __future__ import annotations

from collections.abc import Iterable


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

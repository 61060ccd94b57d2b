"""The one place the domain's plain names of people, groups and channels (bot/domain/naming.py: `@U0ALICE001`,
`@S0DBALEADS`, `#C0DBAOPS01`) become Slack's mentions (`<@U…>`, `<!subteam^S…>`, `<#C…>`)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from bot.domain.access_rules import GROUP_ID
from bot.domain.naming import MARKED
from handlers.blocks.kit import escape, literal, visible

# An ID stands alone: not inside an e-mail address or a longer word. Slack writes IDs in capitals and handles in
# lower case, so `@dba-leads` stays as the rules write it.
USER = re.compile(r"(?<![\w@#<])@([UW][A-Z0-9]+)\b")
GROUP = re.compile(r"(?<![\w@#<])@(S[A-Z0-9]{2,})\b")
CHANNEL = re.compile(r"(?<![\w@#<])#([CG][A-Z0-9]+)\b")
# Entries written before the domain named people plainly hold Slack's own mention, escaped on the way out.
OLD_USER = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")


def mention(principal: str) -> str:
    """A person or a group as Slack mentions them; a group's `@handle` as the rules write it."""
    if principal.startswith("@"):
        return principal
    if GROUP_ID.fullmatch(principal):
        return f"<!subteam^{principal}>"
    return f"<@{principal}>"


# The most characters a list of mentions takes: an access rule may name thousands, past what a message holds.
MENTIONS_ROOM = 3000


def mentions(principals: Iterable[str], room: int = MENTIONS_ROOM) -> str:
    """Each one mentioned, as many as fit in `room` characters, the rest counted ("and 12 more"); never cut."""
    shown = [mention(p) for p in principals]
    if not shown:
        return "nobody"
    whole = ", ".join(shown)
    if len(whole) <= room:
        return whole
    reserve = len(f" and {len(shown)} more")
    kept, used = 0, 0
    while kept < len(shown) and used + len(shown[kept]) + 2 * bool(kept) + reserve <= room:
        used += len(shown[kept]) + 2 * bool(kept)
        kept += 1
    if not kept:
        return f"{len(shown)} people and groups"
    return f"{', '.join(shown[:kept])} and {len(shown) - kept} more"


def _outside_apart(text: str, words: Callable[[str], str]) -> str:
    """`words` applied to the domain's own words in `text`; what it marks as from outside shown literally."""
    parts = MARKED.split(text)  # text from outside in the domain's words (naming.outside): shown literally
    return "".join(literal(part) if odd else words(part) for odd, part in zip(itertools.cycle((False, True)), parts))


def _mentioned(text: str) -> str:
    text = USER.sub(r"<@\1>", visible(text))
    text = GROUP.sub(r"<!subteam^\1>", text)
    return CHANNEL.sub(r"<#\1>", text)


def slack_text(text: str) -> str:
    """The domain's words for Slack: each person, group and channel it names, mentioned; names from outside
    shown as written."""
    return _outside_apart(text, _mentioned)


def _person_mentioned(text: str) -> str:
    escaped = OLD_USER.sub(r"@\1", escape(text))
    return CHANNEL.sub(r"<#\1>", USER.sub(r"<@\1>", escaped))


def with_mentions(text: str) -> str:
    """Escaped, but with the people and channels it names mentioned: a user mention notifies one person and
    cannot reach a whole channel. Groups stay words here: text a person wrote must not notify a group. Names
    from outside are shown as written."""
    return _outside_apart(text, _person_mentioned)


def error_text(message: str) -> str:
    return f":warning: {slack_text(message)}"

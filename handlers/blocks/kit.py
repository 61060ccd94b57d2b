"""Slack's size limits and the pieces every view is built of: escaped, cut to fit, counted; and the words
several views share about a change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.backups import parse_time
from bot.domain.change_requests import ChangeKind
from bot.domain.policy import (
    BackupPolicy,
    describe_changes,
    describe_schedule,
)

MAX_BLOCKS = 50  # in a message
MAX_VIEW_BLOCKS = 100  # in a modal or a Home tab
MAX_SECTION_TEXT = 3000  # a section's text, and any mrkdwn text object
MAX_HEADER_TEXT = 150
MAX_MODAL_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_VALUE_SHOWN = 1000  # one value in a list of changes, so that every change of a policy fits in one section
MAX_NAME_IN_LINE = 300  # a name inside a one-line entry (history), so that the entry's other parts still show
# What a cut must not split: Slack's escapes, and `<…>` tokens (mentions, dates, links). Every literal `<` the bot
# writes is a token, since user text is escaped first.
UNCUTTABLE = re.compile(r"&(?:amp|lt|gt);|<[^<>\n]*>")
ELLIPSIS = "…"
# Unicode's format characters (Cf), but the zero-width joiner; and lone surrogates (Cs, JSON's `\\ud800`), which
# no UTF-8 can carry to Slack. Written out as ranges, as asking `unicodedata` of every code point at import held
# up every start; tests/handlers/test_long_content.py holds them to this Python's Unicode.
INVISIBLE_RANGES = ((0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891),
                    (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200C), (0x200E, 0x200F), (0x202A, 0x202E),
                    (0x2060, 0x2064), (0x2066, 0x206F), (0xD800, 0xDFFF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
                    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
                    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F))
INVISIBLE = re.compile("[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in INVISIBLE_RANGES) + "]")
# The control characters but the line break and the tab: a NUL or an escape sequence from outside is shown, not sent.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
# Both, but the soft hyphen, which `literal` itself writes before a `>` that would quote a line: what the domain's
# own words may hold only where they echo what a person typed.
UNSEEN = re.compile("[\x00-\x08\x0b-\x1f\x7f" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in
                                                          INVISIBLE_RANGES if low != 0xAD) + "]")


def escape(text: str) -> str:
    """Slack's three control characters, which stops a policy name from becoming a mention or a link; and the
    invisible format characters (Unicode Cf: bidi overrides, zero-width spaces) shown as `\\u202e`, so that one
    name cannot pass for another; and the control characters but the line break and the tab, likewise. The
    zero-width joiner stays: emoji are built with it."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if not text.isprintable():
        text = CONTROL.sub(shown_as_code, text)
    if text.isascii():
        return text
    return INVISIBLE.sub(shown_as_code, text)


def visible(text: str) -> str:
    """`text` with its invisible format characters and control characters (UNSEEN) shown as `\\u202e`, as `escape`
    shows them, and nothing else changed: the domain's words, which echo what a person typed (a parse error)."""
    return text if text.isascii() and text.isprintable() else UNSEEN.sub(shown_as_code, text)


def shown_as_code(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


# What mrkdwn reads as formatting or a mention, and has no escape for: `*bold*`, `_italic_`, `~struck~`, `code`,
# and `@channel`/`@U…`/`#C…` where a client or the bot's own mentions() would link them. Each is written as the
# fallback of a date Slack cannot format, which every client shows as plain text, never as markup.
MARKUP = re.compile(r"[*_~`@#]")
PLAIN = "<!date^00000000^{{_}}|{}>"
LITERAL_ROOM = 1300  # a 255-character name sent at most, as long as the longest escaped (`&amp;` each)


def _plain(text: str) -> str:
    shown = MARKUP.sub(lambda m: PLAIN.format(m.group()), escape(text))
    return f"\u00ad{shown}" if shown.startswith("&gt;") else shown


def literal(text: str, limit: int = LITERAL_ROOM) -> str:
    """Text from outside (a policy name) shown exactly as written, wherever it is set in mrkdwn: escaped as
    `escape` does, each mrkdwn character shown plain, and a leading `>` kept from quoting the line. At most
    `limit` characters sent, as `fit(escape(text), limit)` sends: shortened as `fit` does, before it is shown."""
    shown = _plain(text)
    while len(shown) > limit and len(text) > 1:
        text = fit(text, max(1, min(len(text) - 1, len(text) * limit // len(shown))))
        shown = _plain(text)
    return shown if len(shown) <= limit else fit(shown, limit)


def fit(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters; else shortened to fit, ending in "…".

    The one way the bot shortens what it shows. The cut never falls inside an escape (`&amp;`) or a `<…>` token
    (a mention, a date), which would show stray characters or break the token, and falls at a space when one is
    near, so that a word is not split without need.
    """
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    space = max(text.rfind(" ", max(cut - 16, 1), cut + 1), text.rfind("\n", max(cut - 16, 1), cut + 1))
    if space > 0:
        cut = space
    for token in UNCUTTABLE.finditer(text):
        if token.start() >= cut:
            break
        if cut < token.end():
            cut = token.start()
            break
    return text[:cut].rstrip() + ELLIPSIS


def section(text: str) -> SectionBlock:
    if not text.strip():
        raise ValueError("a section needs text: Slack refuses an empty one")
    return SectionBlock(text=MarkdownTextObject(text=fit(text, MAX_SECTION_TEXT)))


def context(text: str) -> ContextBlock:
    if not text.strip():
        raise ValueError("a context needs text: Slack refuses an empty one")
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text, MAX_SECTION_TEXT))])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=fit(text, MAX_HEADER_TEXT))


def packed(lines: Sequence[str], room: int) -> tuple[list[Block], int]:
    """Lines in as few sections as Slack's 3,000 characters a section allow, at most `room` of them; a line too
    long for a section of its own is shortened. Returns the sections and how many lines did not fit."""
    blocks: list[Block] = []
    chunk = ""
    for shown, line in enumerate(lines):
        line = fit(line, MAX_SECTION_TEXT)
        if chunk and len(chunk) + 1 + len(line) > MAX_SECTION_TEXT:
            blocks.append(section(chunk))
            chunk = ""
            if len(blocks) >= room:
                return blocks, len(lines) - shown
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk.strip():
        blocks.append(section(chunk))
    return blocks, 0


def not_shown(count: int, where: str | None = None) -> ContextBlock:
    """How many a list leaves out; `where`: where they are, for a list of things to act on."""
    return context(f"…and {count} more not shown." + (f" {where}" if where else ""))


def to_dicts(blocks: Sequence[Block], most: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """`most`: a message's 50 blocks, or a view's 100 (MAX_VIEW_BLOCKS)."""
    if len(blocks) > most:
        raise ValueError(f"{len(blocks)} blocks: Slack takes at most {most} here")
    return [b.to_dict() for b in blocks]


def when(iso: str | None) -> str:
    """A timestamp that Slack shows in the reader's own time zone, with a UTC fallback."""
    if not iso:
        return "not scheduled"
    try:
        moment = parse_time(iso)  # UTC when it names no zone, as PlanetScale's times are
        stamp = int(moment.timestamp())
        fallback = moment.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
    except (ValueError, OverflowError, OSError):  # not a time, or one past the calendar's ends
        return fit(escape(iso), 100)
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{fallback}>"


def guardrails_text(guardrails: Sequence[str]) -> str:
    """Which guardrails a change meets (and which it overrides), one line each."""
    if not guardrails:
        return "*Guardrails:* none covers this policy."
    return fit("*Guardrails:*\n" + "\n".join(f"• {escape(line)}" for line in guardrails), MAX_SECTION_TEXT)


def schedule_text(values: BackupPolicy | dict[str, Any]) -> str:
    """A policy's schedule in words for Slack: its time is PlanetScale's text (any string), shown as written."""
    return escape(describe_schedule(values))


def lifecycle_text(kind: ChangeKind, policy: BackupPolicy | dict[str, Any]) -> str:
    """A creation or a deletion in one line: the policy that comes or goes."""
    values = policy.model_dump() if isinstance(policy, BackupPolicy) else policy
    verb = "new policy" if kind is ChangeKind.CREATE else "deletes"
    return f"• {verb}: *{fit(escape(describe_schedule(values)), MAX_VALUE_SHOWN)}* ({values['target']})"


def changes_text_between(before: BackupPolicy, after: BackupPolicy | dict[str, Any]) -> str:
    lines = [f"• {c.label}: ~{literal(c.before, MAX_VALUE_SHOWN)}~ → *{literal(c.after, MAX_VALUE_SHOWN)}*"
             for c in describe_changes(before, after)]
    return "\n".join(lines) or "• no visible change"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 policy`, `2 policies`: `many` where adding an s is wrong."""
    return f"{count} {word if count == 1 else many or word + 's'}"

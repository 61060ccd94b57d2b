"""Block Kit rendered as terminal text, for the console."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

DATE_TOKEN = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
MENTION = re.compile(r"<@([A-Z0-9]+)>")
GROUP_MENTION = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")
CHANNEL_MENTION = re.compile(r"<#([A-Z0-9]+)(?:\|[^>]*)?>")
LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
HELD = "\x00"  # where a date's fallback was: no text the bot sends holds a NUL, nor does any markup
HELD_AT = re.compile(HELD)
# A terminal obeys control characters (ESC [2J clears it, a backspace hides what came before): those typed,
# piped or held by a policy are shown as escapes. Newlines and tabs lay the answers out.
SHOWN_CONTROLS = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7f, 0xa0)] if chr(code) not in "\n\t"}


EMOJI = {":warning:": "⚠", ":white_check_mark:": "✅", ":hourglass_flowing_sand:": "⏳", ":mag:": "🔍",
         ":lock:": "🔒", ":x:": "❌", ":no_entry:": "⛔", ":hourglass:": "⌛", ":leftwards_arrow_with_hook:": "↩",
         ":package:": "📦", ":twisted_rightwards_arrows:": "🔀"}
EMOJI_CODE = re.compile(r":[a-z_]+:")


def mrkdwn(text: str, user_name: Callable[[str], str]) -> str:
    text = EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(0), m.group(0)), text)
    # A date's fallback is shown as plain text (the bot writes a name's `*`, `_`, `~` as one): held apart until
    # the formatting around it is read, so that it formats nothing.
    held: list[str] = []

    def hold(date: re.Match[str]) -> str:
        held.append(date.group(1))
        return HELD

    if HELD not in text:
        text = DATE_TOKEN.sub(hold, text)
    text = MENTION.sub(lambda m: "@" + user_name(m.group(1)), text)
    text = GROUP_MENTION.sub(lambda m: "@" + user_name(m.group(1)), text)
    text = CHANNEL_MENTION.sub(lambda m: "#" + user_name(m.group(1)), text)
    text = LINK.sub(r"\2 (\1)", text)
    # Slack formats nothing inside code (`acme/* *` keeps its stars): only the text between code spans.
    parts = CODE.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = plain(parts[i])
    shown = iter(held)
    return html.unescape(DATE_TOKEN.sub(r"\1", HELD_AT.sub(lambda _: next(shown), "".join(parts))))


# Code blocks first, then inline code; in `split` the spans are the odd parts.
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)


def plain(text: str) -> str:
    """Bold, italic and struck text without their marks."""
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"\1", text)
    return re.sub(r"(?<![\w~])~([^~\n]+)~(?![\w~])", r"\1", text)  # struck "before" values stand beside "→"


def element_label(element: dict[str, Any]) -> str:
    return str((element.get("text") or {}).get("text") or element.get("action_id") or "button")


def blocks_to_text(blocks: list[dict[str, Any]], user_name: Callable[[str], str],
                   add_button: Callable[[dict[str, Any]], int]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = str(block["text"]["text"])
            lines += [title.upper(), "─" * min(len(title), 60)]
        elif kind == "section":
            if block.get("text"):
                lines += mrkdwn(str(block["text"]["text"]), user_name).splitlines()
            for item in block.get("fields") or []:
                lines.append(mrkdwn(str(item.get("text", "")), user_name))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append(f"  [{add_button(accessory)}] {element_label(accessory)}")
        elif kind == "context":
            parts = [mrkdwn(str(e.get("text", "")), user_name) for e in block.get("elements", []) if "text" in e]
            lines.append("  " + " ".join(parts))
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "actions":
            buttons = [f"[{add_button(e)}] {element_label(e)}" for e in block.get("elements", [])
                       if e.get("type") == "button"]
            if buttons:
                lines.append("  " + "   ".join(buttons))
        elif kind == "input":
            lines.append(f"  {block.get('label', {}).get('text', '')}: …")
    return lines


def is_text(line: str) -> bool:
    """Whether a line read is UTF-8 text (not bytes of another encoding kept as lone surrogates)."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

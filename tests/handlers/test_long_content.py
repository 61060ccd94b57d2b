"""Long names, reasons and lists through the bot as Slack drives it: everything sent stays inside Block Kit's
limits (Bot.send fails a test on anything Slack would refuse), and nothing is cut into a broken escape."""

from __future__ import annotations

import json
import re
from typing import Any

from conftest import Bot

from bot.domain.grammar import MAX_REASON_LENGTH
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import MAX_PRIVATE_METADATA

DEV = "bp03devday"
NAME_A = "&<" * 127 + "&"  # 255 characters that escape to five or four each
NAME_B = "<&" * 127 + "<"


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") in ("mrkdwn", "plain_text"):
                found.append(str(value.get("text")))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(blocks)
    return found


def broken_escapes(text: str) -> list[str]:
    """Pieces of `&amp;`, `&lt;`, `&gt;` or of a `<…>` token left by a cut."""
    without_entities = re.sub(r"&(amp|lt|gt);", "", text)
    tokens = re.sub(r"<[@#!][^<>]*>", "", without_entities)
    return re.findall(r"&[a-z]{0,3}(?![a-z;])|[<>]", tokens)


def test_history_after_two_renames_to_255_escaped_characters_is_shown_and_never_empty(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    for name in (NAME_A, NAME_B):
        renamed = bot.command(f'update acme/app-db {DEV} name="{name}"')
        assert planetscale.policies[("acme", "app-db")][DEV]["name"] == name, renamed.all_text()
    reply = bot.command("history acme/app-db")
    [answer] = reply.private
    sections = [b for b in answer.blocks if b["type"] == "section"]
    assert all(b["text"]["text"].strip() for b in sections)
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    for text in texts(answer.blocks):
        assert broken_escapes(text) == [], text[-80:]
    shown = "\n".join(texts(answer.blocks))
    assert shown.count("> changed ") == 2 and "&amp;&lt;&amp;&lt;" in shown


def test_the_edit_modal_carries_a_255_character_name_and_a_longest_reason_inside_3000_characters(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    long_name = '"\\' * 127 + '"'  # every character doubles in JSON
    planetscale.policies[("acme", "app-db")][DEV]["name"] = long_name
    planetscale.policies[("acme", "app-db")][DEV]["display_name"] = f"Backup policy {long_name}"
    bot.command(f"edit acme/app-db {DEV}")
    form = bot.current_view()
    assert len(form["private_metadata"]) <= MAX_PRIVATE_METADATA
    reason = '"' * MAX_REASON_LENGTH
    preview = bot.submit(form, {"name": "\\" * 255, "retention_value": "9", "reason": reason})
    assert preview.ack["response_action"] == "update", preview.ack
    confirm = preview.ack["view"]
    assert len(confirm["private_metadata"]) <= MAX_PRIVATE_METADATA
    confirm["id"] = form["id"]
    bot.submit(confirm, {})
    assert [c.body for c in planetscale.calls("PATCH")] == [{"name": "\\" * 255, "retention_value": 9}]
    [posted] = [e for e in bot.slack.events if e.kind == "message"]
    assert "&quot;" not in json.dumps(posted.blocks) and '\\"\\"\\"' in json.dumps(posted.blocks)


def test_a_reason_longer_than_the_form_allows_is_answered_beside_it(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.command(f"edit acme/app-db {DEV}")
    form = bot.current_view()
    [reason_input] = [b for b in form["blocks"] if b.get("block_id") == "reason"]
    assert reason_input["element"]["max_length"] == MAX_REASON_LENGTH
    reply = bot.submit(form, {"retention_value": "9", "reason": "x" * (MAX_REASON_LENGTH + 1)})
    assert reply.ack["response_action"] == "errors"
    assert str(MAX_REASON_LENGTH) in reply.ack["errors"]["reason"]
    assert planetscale.calls("PATCH") == []


def test_a_name_of_control_characters_asks_for_a_shorter_reason_rather_than_overflow_the_modal(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.policies[("acme", "app-db")][DEV]["name"] = "\x01" * 255  # six characters each in JSON
    bot.command(f"edit acme/app-db {DEV}")
    form = bot.current_view()
    assert len(form["private_metadata"]) <= MAX_PRIVATE_METADATA
    reply = bot.submit(form, {"name": '"' * 255, "reason": '"' * MAX_REASON_LENGTH})
    assert reply.ack["response_action"] == "errors"
    assert "shorten the reason" in reply.ack["errors"]["reason"]
    assert bot.submit(form, {"name": '"' * 255, "reason": "audit"}).ack["response_action"] == "update"
    assert planetscale.calls("PATCH") == []


def test_a_list_longer_than_a_message_holds_says_how_many_are_not_shown(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    for n in range(150):
        planetscale.add_policy("acme", "app-db", f"bplong{n:04d}", name=NAME_A)
    [answer] = bot.command("list acme/app-db").private
    assert len(answer.blocks) <= 50
    shown = sum(b["text"]["text"].count("(`bp") for b in answer.blocks if b["type"] == "section")
    assert 0 < shown < 153
    assert f"…and {153 - shown} more not shown." in texts(answer.blocks)


def test_the_invisible_characters_escaped_are_this_pythons_format_characters_and_surrogates() -> None:
    """`escape` shows Unicode's format characters (but the zero-width joiner) and lone surrogates as `\\u…`; they
    are written out as ranges, which must be exactly the ones this Python's Unicode database names."""
    import unicodedata

    from handlers.blocks import INVISIBLE, escape

    named = {c for c in range(0x80, 0x110000) if c != 0x200D and unicodedata.category(chr(c)) in ("Cf", "Cs")}
    matched = {c for c in range(0x80, 0x110000) if INVISIBLE.fullmatch(chr(c))}
    assert matched == named
    assert escape("a\u202eb\u200dc") == "a\\u202eb\u200dc"

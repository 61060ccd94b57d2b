"""PlanetScale's own reason for refusing a change (its 400/409/422 `message`, or an unexpected status's) is text
from outside: wherever the bot tells it (the asker's answer, the request's thread and message, the asker's direct
message, the audit channel, history), it is shown as written and mentions nobody, as a policy name from
PlanetScale is (test_outside_names.py). Through Bolt's pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from approval_helpers import ALICE, CAROL, PROD, request_id, request_message
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

REASON = "name <@U0EVIL0001> taken <!channel> @U0EVIL0002 #C0EVIL0001 *b* `c`"
# Slack's tokens that mention someone or link somewhere: none may come of PlanetScale's words.
MADE = re.compile(r"<@U0EVIL|<!channel|<#C0EVIL")
BARE = ("@U0EVIL0002", "#C0EVIL0001", "*b*", "`c`")


def texts(value: Any, top: bool = True) -> list[str]:
    """Every mrkdwn text of a message or ack (a message's own text, and each mrkdwn text object)."""
    if isinstance(value, str):
        return [value] if top else []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            return [value["text"]]
        return [t for k, v in value.items() for t in texts(v, top and k == "text")]
    if isinstance(value, list):
        return [t for v in value for t in texts(v, top)]
    return []


def told(bot: Bot, *acks: Any) -> list[str]:
    """What the bot said that holds PlanetScale's words."""
    said = [t for e in bot.slack.events for t in texts(e.text) + texts(e.blocks, top=False)]
    said += [t for a in acks for t in texts(a)]
    return [t for t in said if "taken" in t]


@pytest.mark.parametrize("status", [422, 409, 418])
def test_planetscales_reason_for_refusing_an_approved_change_mentions_nobody(
        approvals_bot: Bot, planetscale: PlanetScaleState, status: int) -> None:
    bot = approvals_bot
    bot.deps.audit_channel = "C0AUDIT001"
    bot.slack.add_channel("C0AUDIT001", "audit")
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    asked = request_message(bot)
    planetscale.add_fault(Fault(status=status, method="PATCH",
                                body=json.dumps({"code": "unprocessable", "message": REASON})))
    clicked = bot.click(APPROVE, request_id(asked), user=CAROL, message=asked)
    history = bot.command("history acme/app-db")
    shown = told(bot, clicked.ack, history.ack)
    where = {e.channel for e in bot.slack.events if any("taken" in t for t in texts(e.text) + texts(e.blocks, False))}
    assert {"C0DBAOPS01", bot.slack.dm_channel(ALICE)} <= where, where
    mentioned = [t for t in shown if MADE.search(t)]
    assert not mentioned, f"a mention or link made of PlanetScale's words: {mentioned}"
    for text in shown:
        for bare in BARE:
            assert bare not in text, f"{bare!r} sent bare: {text}"


def test_planetscales_reason_told_to_the_asker_alone_mentions_nobody(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=422, method="PATCH",
                                body=json.dumps({"code": "unprocessable", "message": REASON})))
    reply = bot.command("update acme/app-db bp03devday retention=9d")
    shown = told(bot, reply.ack)
    assert shown, reply.all_text()
    mentioned = [t for t in shown if MADE.search(t)]
    assert not mentioned, f"a mention or link made of PlanetScale's words: {mentioned}"
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 3


def test_a_branch_name_no_path_holds_is_shown_as_written_in_a_requests_estimate(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    planetscale.add_branch("acme", "app-db", "<@U0EVIL0001>", production=True)
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    asked = request_message(bot)
    said = texts(asked.text) + texts(asked.blocks, top=False)
    assert any("is not a valid branch" in t for t in said), said
    assert not [t for t in said if MADE.search(t)], said


def test_planetscales_reason_for_a_database_an_export_could_not_read_mentions_nobody(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=400, method="GET", times=None, path_ends="/app-db/backup-policies",
                                body=json.dumps({"code": "bad_request", "message": REASON})))
    reply = bot.command("export acme/* json")
    shown = told(bot, reply.ack)
    assert shown and "billing-db" in reply.all_text(), reply.all_text()
    assert not [t for t in shown if MADE.search(t)], shown
    assert not [t for t in shown if "\\u2068" in t], shown

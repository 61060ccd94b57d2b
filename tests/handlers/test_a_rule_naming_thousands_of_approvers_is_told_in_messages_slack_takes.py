"""An access rule naming thousands of approvers: every message that names them stays inside what Slack takes
(Bot.send fails a test on anything Slack refuses), says how many it does not name, and still reaches the person."""

from __future__ import annotations

import json

from approval_helpers import RULES, approvals_bot
from bulk_helpers import ask_bulk_of_two, channel_messages
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # the fixture, used by name

APPROVERS = [f"U{n:020d}" for n in range(1700)]  # 44,200 characters as mentions: past a message's 40,000


def many_approvers(bot: Bot) -> None:
    rules = RULES.replace('approvers = ["@dba-leads"]\napprovals = {approvals}',
                          f"approvers = {json.dumps([*APPROVERS, '@dba-leads'])}\napprovals = {{approvals}}")
    assert rules != RULES
    bot.use_rules(rules.format(approvals=1))


def test_a_change_asking_one_of_thousands_of_approvers_is_answered_and_posted(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    many_approvers(approvals_bot)
    reply = approvals_bot.command('update acme/app-db "Production daily" retention=9d', channel="C0DBAOPS01")
    [answer] = [e for e in reply.private if "needs 1 approval" in e.text]
    assert f"<@{APPROVERS[0]}>" in answer.text and "more" in answer.text and "nothing is sent" in answer.text
    [message] = channel_messages(approvals_bot)
    shown = json.dumps(message.blocks)
    assert f"*may approve:* <@{APPROVERS[0]}>" in shown and " more" in shown.partition("may approve")[2]
    assert planetscale.calls("PATCH") == []


def test_a_bulk_change_asking_one_of_thousands_of_approvers_is_answered_and_posted(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    many_approvers(approvals_bot)
    ask_bulk_of_two(approvals_bot, planetscale)  # Bot.send fails the test on any message Slack refused
    [answer] = [e for e in approvals_bot.slack.events if e.kind == "response" and "needs 1 approval" in e.text]
    assert f"<@{APPROVERS[0]}>" in answer.text and "more" in answer.text
    [message] = channel_messages(approvals_bot)
    assert " more" in json.dumps(message.blocks).partition("may approve")[2]
    assert planetscale.calls("PATCH") == []

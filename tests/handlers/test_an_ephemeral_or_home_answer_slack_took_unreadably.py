"""An ephemeral answer or a Home that Slack took, answered with an answer the bot cannot read (cut short, or
replaced on its way by a page): chat.postEphemeral's was taken for a refusal and the person was
answered a second time in a direct message; views.publish's was taken for a refusal too, and the Home Slack had
just published was replaced by one saying it could not be shown (and a click's answer said again in a direct
message). Now such an answer is taken as what it most likely is, Slack having answered 200: the answer said once,
the Home published again (the same view, so nothing is shown twice) and kept. Through Bolt's pipeline, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot, ask, direct_messages, request_id
from conftest import CHANNEL, Bot
from home_helpers import click_on_home, open_home
from test_inbox import PROD, Instances, Killed, acked, inbox_of, instances

from bot.emulators.slack import MethodFault, SlackState
from bot.runtime.running import start_sweeper
from bot.runtime.sweeper import INBOX_GIVE_UP
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "instances"]  # fixtures, used by name

# Answers Slack gave after acting, unreadable on their way (a JSON answer of no shape Slack gives is a refusal:
# test_home.py, test_inbox.py).
GARBLED = {"cut short": b'{"ok": true, "message_ts": "17', "a page": b"<html>Bad gateway</html>", "empty": b""}


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_an_ephemeral_answer_slack_took_unreadably_is_said_once(approvals_bot: Bot, garbled: bytes) -> None:
    bot = approvals_bot
    bot.slack.expired_responses.add("1")  # the command's response URL, past its 30 minutes: answered ephemerally
    bot.slack.add_fault(MethodFault("chat.postEphemeral", garbled=garbled))
    bot.command("list acme/app-db", user=ALICE)
    shown = [e for e in bot.slack.events if e.kind == "ephemeral" and e.channel == CHANNEL]
    assert len(shown) == 1 and "bp01prod12h" in json.dumps(shown[0].blocks), bot.slack.events
    assert direct_messages(bot, ALICE) == []


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_a_home_slack_published_with_an_unreadable_answer_is_kept(approvals_bot: Bot, garbled: bytes) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("views.publish", garbled=garbled))
    home = json.dumps(open_home(bot, ALICE)["blocks"])
    assert "could not be shown" not in home and "You have no open requests." in home, home


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_a_home_slack_keeps_answering_unreadably_is_not_replaced(approvals_bot: Bot, garbled: bytes) -> None:
    bot = approvals_bot
    open_home(bot, ALICE)
    bot.slack.add_fault(MethodFault("views.publish", garbled=garbled, times=None))
    home = json.dumps(open_home(bot, ALICE)["blocks"])
    assert "could not be shown" not in home and "You have no open requests." in home, home


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_a_click_on_the_home_answered_there_unreadably_is_answered_once(
        approvals_bot: Bot, garbled: bytes) -> None:
    bot = approvals_bot
    message = ask(bot)
    open_home(bot, ALICE)
    bot.slack.add_fault(MethodFault("views.publish", garbled=garbled))
    click_on_home(bot, ALICE, APPROVE, request_id(message))  # her own request: refused, on her Home
    assert "own" in json.dumps(bot.slack.homes[ALICE]["blocks"][:2])
    assert direct_messages(bot, ALICE) == []
    assert bot.deps.store.approvers_of(request_id(message)) == []


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_work_lost_told_in_an_ephemeral_slack_took_unreadably_is_told_once(
        instances: Instances, slack: SlackState, settings: Any, garbled: bytes) -> None:
    killed, alive = instances.start(Killed()), instances.start()
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    slack.add_fault(MethodFault("chat.postEphemeral", garbled=garbled))
    keeper = start_sweeper(alive.deps, alive.app, settings, start=False).inbox
    assert keeper is not None
    inbox_of(alive).ahead = INBOX_GIVE_UP + 1
    keeper.step()
    assert alive.executor.wait_idle(timeout=30)
    told = [e for e in slack.events if "try again" in e.text]
    assert [e.kind for e in told] == ["ephemeral"], slack.events
    [lost] = [e for e in alive.audit.all() if e.action == "lost"]
    assert "(not told)" not in (lost.detail or "")

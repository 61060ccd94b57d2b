"""What is answered in the ack itself: anything that needs no call to Slack, PlanetScale or the database."""

from __future__ import annotations

import json
import threading

from conftest import SIGNING_SECRET, Bot, acked_while
from slack_bolt import BoltRequest

from bot.adapters.slack_directory import slack_groups
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackState
from bot.emulators.slack_requests import signed_headers

CAROL = "U0CAROL001"


def test_help_is_answered_in_the_ack_once_the_user_groups_are_known(
    bot: Bot, slack: SlackState, planetscale: PlanetScaleState
) -> None:
    first = bot.command("help")  # the groups are listed first: answered after the ack
    assert first.ack == {} and len(first.private) == 1
    calls = len(slack.calls)
    second = bot.command("help")
    assert second.ack["text"] == "How to use /backup-policy"
    assert json.dumps(second.ack["blocks"]) == json.dumps(first.private[0].blocks)
    assert second.events == [] and len(slack.calls) == calls and planetscale.calls() == []


def test_help_in_the_ack_says_what_this_caller_may_do(bot: Bot) -> None:
    bot.command("help")
    editor, approver = bot.command("help"), bot.command("help", user=CAROL)
    assert "see, change" in json.dumps(editor.ack["blocks"])
    assert "see, approve" in json.dumps(approver.ack["blocks"])
    assert "see, change" not in json.dumps(approver.ack["blocks"])


def test_help_in_the_ack_never_waits_on_slack_for_groups_that_turn_stale_as_it_is_answered(
    bot: Bot, slack: SlackState
) -> None:
    ticks: list[float] = []
    bot.deps.access.groups = slack_groups(bot.app.client, clock=lambda: ticks.pop(0) if ticks else 0.0)
    bot.command("help")  # listed at 0
    # Fresh when the ack looks, stale a moment later as the rules are read: the listing's minute ends in between.
    ticks[:] = [1.0] + [1000.0] * 100
    held = threading.Event()
    slack.add_fault(MethodFault("usergroups.list", until=held, times=None))
    body = bot.command_body("help")
    try:
        answer = acked_while(lambda: bot.app.dispatch(BoltRequest(body=body,
                                                                  headers=signed_headers(SIGNING_SECRET, body))))
        assert answer.status == 200 and not answer.body, "help was answered in the ack after listing the groups"
    finally:
        held.set()
    assert bot.executor.wait_idle(60)


def test_help_is_answered_in_the_ack_where_no_user_group_needs_looking_up(bot: Bot, slack: SlackState) -> None:
    """Rules naming people alone, or naming the caller before any group: nothing of Slack's groups is needed, so
    nothing lists them, and help waited for a listing that never came (answered after the ack, every time)."""
    bot.use_rules('[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0ALICE001"]\n'
                  'approvers = ["U0ALICE001", "@dba-leads"]\n')
    first = bot.command("help")
    assert first.ack["text"] == "How to use /backup-policy" and first.private == []
    assert "see, change, approve" in json.dumps(first.ack["blocks"])
    assert slack.method_calls("usergroups.list") == []

"""What is answered in the ack itself: anything that needs no call to Slack, PlanetScale or the database."""

from __future__ import annotations

import json

from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState

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

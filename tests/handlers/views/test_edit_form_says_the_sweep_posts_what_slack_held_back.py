"""A change asked from the edit form while Slack holds back posts to its channel for a moment (a rate limit): the
sweep posts the result (or the request) there once Slack takes posts again, but the form said "Slack did not post
the result in the channel" as if it never would be. Now the form says the true thing: not posted yet, and the bot
posts it there once Slack takes it; where Slack refuses the channel for good (the bot not in it), the form still
says it is not posted (test_edit_outcome_when_the_form_is_gone.py). Through Bolt's pipeline, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import sweep, swept_later
from conftest import CHANNEL, Bot
from test_edit import open_form
from test_form_applied_post_rate_limited import any_bot as any_bot  # the fixture
from test_form_applied_post_rate_limited import posted

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackEvent

LATER = "the bot posts it there once Slack takes it"
ASKING = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["U0ALICE001"]
approvers = ["U0CAROL001"]
approvals = 1
"""


def confirmed_while_slack_holds_posts_back(bot: Bot, policy: str) -> str:
    """The change confirmed in its form while Slack rate limits the channel's posts once: what the form shows."""
    form = open_form(bot, policy)
    confirm = bot.submit(form, {"retention_value": "5", "reason": "more history"}).ack["view"]
    confirm["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    bot.slack.add_fault(MethodFault("chat.postMessage", status=429, retry_after=3600, channel=CHANNEL,
                                    in_thread=False, times=1))
    bot.submit(confirm, {})
    assert bot.executor.wait_idle(timeout=30)
    return json.dumps(bot.current_view()["blocks"], ensure_ascii=False)


def posted_by_the_sweep(bot: Bot) -> SlackEvent:
    assert posted(bot) == []
    sweep(bot)
    for _ in range(2):
        swept_later(bot)  # past the grace of a post whose maker may still be at it
    [message] = posted(bot)
    return message


def test_a_change_applied_is_said_to_be_posted_by_the_bot_once_slack_takes_it(
        any_bot: Bot, planetscale: PlanetScaleState) -> None:
    shown = confirmed_while_slack_holds_posts_back(any_bot, "bp03devday")
    assert "did not post" not in shown and LATER in shown, shown
    assert len(planetscale.calls("PATCH")) == 1
    assert "more history" in json.dumps(posted_by_the_sweep(any_bot).blocks)


def test_a_request_waiting_for_approval_is_said_to_be_posted_by_the_bot_once_slack_takes_it(
        any_bot: Bot, planetscale: PlanetScaleState) -> None:
    any_bot.use_rules(ASKING)
    shown = confirmed_while_slack_holds_posts_back(any_bot, "bp01prod12h")
    assert "did not post" not in shown and LATER in shown and "waits for approval" in shown, shown
    assert planetscale.calls("PATCH") == []
    posted_by_the_sweep(any_bot)

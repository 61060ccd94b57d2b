"""A change confirmed in the edit form is answered in the form (views.update). When Slack no longer takes that
update (the person closed the form while the change was checked: `not_found`; or Slack failing), an outcome the
channel does not show (nothing sent: PlanetScale unavailable) reaches them all the same, in the bot's direct
message with them. Through Bolt's pipeline, with both emulators."""

from __future__ import annotations

import json

import pytest
from conftest import ALICE, Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault

DEV = "bp03devday"


def direct_messages(bot: Bot, user: str) -> str:
    dm = bot.slack.dm_channel(user)
    return json.dumps([[e.text, e.blocks] for e in bot.slack.events if e.kind == "message" and e.channel == dm],
                      ensure_ascii=False)


@pytest.mark.parametrize("slack_fault", [MethodFault("views.update", error="not_found", times=None),
                                         MethodFault("views.update", status=500, times=None)])
def test_a_change_nothing_was_sent_for_is_told_to_whoever_closed_its_form(
    bot: Bot, planetscale: PlanetScaleState, slack_fault: MethodFault
) -> None:
    bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    form = bot.current_view()
    confirm = bot.submit(form, {"retention_value": "5"}).ack["view"]
    confirm["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    planetscale.add_fault(Fault(status=503, method="GET", times=None))
    bot.slack.add_fault(slack_fault)
    done = bot.submit(confirm, {})
    assert done.ack["response_action"] == "update"
    assert planetscale.calls("PATCH") == []
    told = direct_messages(bot, ALICE)
    assert "nothing was sent" in told.lower() or "not applied" in told.lower(), told


def test_a_change_applied_where_the_bot_cannot_post_is_told_to_whoever_closed_its_form(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.command(f"edit acme/app-db {DEV}", user=ALICE, channel="G0PRIVATE01")  # chat.postMessage: channel_not_found
    form = bot.current_view()
    confirm = bot.submit(form, {"retention_value": "5"}).ack["view"]
    confirm["id"] = form["id"]
    bot.slack.add_fault(MethodFault("views.update", error="not_found", times=None))
    bot.submit(confirm, {})
    assert len(planetscale.calls("PATCH")) == 1
    told = direct_messages(bot, ALICE)
    assert "Slack did not post the result in the channel" in told, told

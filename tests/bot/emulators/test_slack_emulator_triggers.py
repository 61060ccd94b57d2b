"""A trigger_id as Slack takes it: once, and within 3 s of the command or click that gave it, counted on the
emulator's trigger clock (the tests' own, moved only by a test, so a loaded machine's slow command expires
none); and the person told when a form's trigger has expired."""

from __future__ import annotations

import json

import pytest
from conftest import BOT_TOKEN, Bot
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState

VIEW = json.dumps({"type": "modal", "title": {"type": "plain_text", "text": "Form"},
                   "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]})


@pytest.fixture
def client(slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer]) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack_server[1].url + "/api/")


def test_a_trigger_opens_one_view_within_its_three_seconds(client: WebClient, slack: SlackState) -> None:
    now = [100.0]
    slack.trigger_clock = lambda: now[0]
    trigger = slack.new_trigger_id()
    now[0] += 2.9
    assert client.views_open(trigger_id=trigger, view=VIEW)["ok"]
    with pytest.raises(SlackApiError) as again:
        client.views_open(trigger_id=trigger, view=VIEW)
    assert again.value.response["error"] == "invalid_trigger_id"


def test_a_trigger_past_its_three_seconds_is_refused(client: WebClient, slack: SlackState) -> None:
    now = [100.0]
    slack.trigger_clock = lambda: now[0]
    trigger = slack.new_trigger_id()
    now[0] += 3.1
    with pytest.raises(SlackApiError) as late:
        client.views_open(trigger_id=trigger, view=VIEW)
    assert late.value.response["error"] == "expired_trigger_id"


def test_a_form_whose_trigger_expired_is_told_to_the_person(bot: Bot, planetscale: PlanetScaleState) -> None:
    issued = [True]

    def clock() -> float:
        # The command's trigger is issued at 0; views.open reads 4 s later.
        if issued[0]:
            issued[0] = False
            return 0.0
        return 4.0

    bot.slack.trigger_clock = clock
    reply = bot.command("edit acme/app-db bp03devday")
    [told] = reply.private
    assert "did not open the form" in told.text and "/backup-policy edit acme/app-db bp03devday" in told.text
    assert planetscale.calls("PATCH") == []

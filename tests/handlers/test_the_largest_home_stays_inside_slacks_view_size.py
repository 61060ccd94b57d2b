"""Slack refuses a view over 250 KB (`view_too_large`) on views.open, views.update and views.publish; the
emulator refuses it too, and the largest Home the bot makes, names and texts at their longest in characters JSON
escapes to twelve bytes, stays inside it."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from approval_helpers import ALICE, CAROL, approvals_bot, ask, request_id
from conftest import BOT_TOKEN, Bot
from home_helpers import open_home
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.grammar import MAX_REASON_LENGTH
from bot.domain.policy import MAX_NAME_LENGTH
from bot.emulators.block_kit import MAX_VIEW_BYTES
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState

__all__ = ["approvals_bot"]  # a fixture, used by name

WIDE = "\U0001f600"  # sent as \\ud83d\\ude00: twelve bytes of the view's JSON


def blocks_of(size: int) -> list[dict[str, object]]:
    """Sections holding about `size` bytes of the view's JSON, each within Slack's 3,000 characters."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}} for _ in range(size // 2950 + 1)]


@pytest.fixture
def client(slack_server: tuple[SlackEmulator, BackgroundServer]) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack_server[1].url + "/api/")


def test_a_view_over_250_kb_is_refused_as_slack_refuses_it(client: WebClient, slack: SlackState) -> None:
    user = next(iter(slack.users))
    inside = {"type": "home", "blocks": blocks_of(MAX_VIEW_BYTES - 10_000)}
    assert client.views_publish(user_id=user, view=inside)["ok"]
    over = {"type": "home", "blocks": blocks_of(MAX_VIEW_BYTES + 1000)}
    assert len(over["blocks"]) <= 100  # refused for its size alone
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id=user, view=over)
    assert refused.value.response["error"] == "view_too_large"
    with pytest.raises(SlackApiError) as opened:
        client.views_open(trigger_id=slack.new_trigger_id(), view={**over, "type": "modal", "title": {
            "type": "plain_text", "text": "Form"}})
    assert opened.value.response["error"] == "view_too_large"


def test_the_largest_home_stays_inside_250_kb(approvals_bot: Bot) -> None:
    """Many requests waiting for Carol and made by Alice, their policy names, reasons and risks at their longest in
    wide characters: each Home is published, none refused."""
    mine = approvals_bot.deps.store.get_request(request_id(ask(approvals_bot)))
    assert mine is not None
    for n in range(120):
        approvals_bot.deps.store.add_request(replace(
            mine, id=str(uuid.uuid4()), policy_name=WIDE * MAX_NAME_LENGTH, reason=WIDE * MAX_REASON_LENGTH,
            risks=[WIDE * 300] * 5, created_at=mine.created_at - 1000 + n, updated_at=mine.created_at - 1000 + n))
    for user in (ALICE, CAROL):
        home = open_home(approvals_bot, user)
        assert "could not be shown" not in json.dumps(home)
    assert not approvals_bot.slack.refusals

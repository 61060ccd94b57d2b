"""A person's answer whose response URL Slack no longer takes (404 `expired_url`: past its 30 minutes or its five
uses, as a request redone late from the inbox meets it) reaches them another way: an ephemeral message where they
asked. Through Bolt's pipeline, with Slack's emulator answering as Slack does."""

from __future__ import annotations

import json

from approval_helpers import ALICE, approvals_bot, ask, request_id
from conftest import CHANNEL, Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


def privately_to(bot: Bot, user: str) -> str:
    return json.dumps([[e.text, e.blocks] for e in bot.slack.events
                       if e.kind == "ephemeral" and e.user == user and e.channel == CHANNEL], ensure_ascii=False)


def test_a_status_answer_whose_response_url_expired_reaches_the_caller_as_an_ephemeral_message(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.slack.expired_responses.add("1")  # the command's response URL
    reply = bot.command("status acme/app-db", user=ALICE)
    assert reply.ack == {}
    assert "3 policies, all healthy" in privately_to(bot, ALICE)


def test_a_refused_click_whose_response_url_expired_is_still_explained_to_the_clicker(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)
    approvals_bot.slack.expired_responses.add("2")  # a click's response URL
    approvals_bot.click(APPROVE, request_id(message), user=ALICE, message=message)  # her own request
    assert "Nobody approves or rejects their own request" in privately_to(approvals_bot, ALICE)


def test_a_status_answer_whose_response_url_keeps_failing_reaches_the_caller_as_an_ephemeral_message(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.slack.failing_responses["1"] = 500  # Slack's side of the response URL failing at every try
    reply = bot.command("status acme/app-db", user=ALICE)
    assert reply.ack == {}
    assert "3 policies, all healthy" in privately_to(bot, ALICE)

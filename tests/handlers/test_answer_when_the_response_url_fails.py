"""A person's private answer whose response URL Slack does not take (a 5xx on a bad day, or a rate limit on a
burst, retried and still failing) reaches them another way: an ephemeral message where they asked, as for an
expired URL."""

from __future__ import annotations

import json

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture, on SQLite and PostgreSQL
from conftest import ALICE, CHANNEL, Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack_requests import slash_command_body


def privately_to(bot: Bot, user: str) -> str:
    return json.dumps([[e.text, e.blocks] for e in bot.slack.events
                       if e.kind == "ephemeral" and e.user == user and e.channel == CHANNEL], ensure_ascii=False)


@pytest.mark.parametrize("status", [500, 503, 410])
def test_a_status_answer_whose_response_url_fails_reaches_the_caller_as_an_ephemeral_message(
        bot: Bot, planetscale: PlanetScaleState, status: int) -> None:
    bot.slack.failing_responses["1"] = status  # the command's response URL
    reply = bot.command("status acme/app-db", user=ALICE)
    assert reply.ack == {}
    assert "3 policies, all healthy" in privately_to(bot, ALICE)


def test_a_status_answer_whose_response_url_slack_rate_limits_reaches_the_caller_as_an_ephemeral_message(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.slack.failing_responses["1"] = 429  # a burst of answers: rate limited at every try
    reply = approvals_bot.command("status acme/app-db", user=ALICE)
    assert reply.ack == {}
    assert "3 policies, all healthy" in privately_to(approvals_bot, ALICE)


def test_a_status_answer_whose_response_url_cannot_be_reached_reaches_the_caller_as_an_ephemeral_message(
        bot: Bot, planetscale: PlanetScaleState, free_tcp_port: int) -> None:
    member = bot.slack.users[ALICE]
    body = slash_command_body("status acme/app-db", user_id=ALICE, user_name=member.name, channel_id=CHANNEL,
                              channel_name=bot.slack.channels[CHANNEL],
                              response_url=f"http://127.0.0.1:{free_tcp_port}/response/1",  # nothing listens
                              trigger_id=bot.slack.new_trigger_id())
    reply = bot.send(body)
    assert reply.ack == {}
    assert "3 policies, all healthy" in privately_to(bot, ALICE)

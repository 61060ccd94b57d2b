"""A request redone from the inbox whose listener answers in the ack where its first instance handed work over (a
newer release refusing a text an older one took): its ack reaches nobody, so `redo` sends that answer to the
response URL, and where Slack no longer takes it there (`expired_url`, a 5xx at every try) the person is told as
any private answer is, an ephemeral message where they asked, else the bot's direct message. Through Bolt's
pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import CHANNEL, SIGNING_SECRET, Bot
from slack_sdk.signature import SignatureVerifier

from bot.emulators.slack_requests import signed_headers
from bot.runtime.app import redo

__all__ = ["approvals_bot"]  # a fixture, used by name

REFUSED = "update acme/app-db bp01prod12h retention=0d"  # refused in the ack: nothing handed over here
PRIVATE = "G0PRIVATE01"  # a channel the emulator does not know: chat.postEphemeral answers channel_not_found


def redone(bot: Bot, channel: str = CHANNEL) -> None:
    """The command redone as the keeper redoes a stopped instance's work, that instance having handed one piece
    of work over for it (key `…:1`)."""
    body = bot.command_body(REFUSED, user=ALICE, channel=channel)
    headers = {k: [str(v)] for k, v in signed_headers(SIGNING_SECRET, body).items()}
    payload = json.dumps({"body": body, "headers": headers})
    assert redo(bot.app, payload, frozenset({"handed:1"}), verifier=SignatureVerifier(SIGNING_SECRET)) == 200
    assert bot.executor.wait_idle(timeout=30)


def told(bot: Bot, kind: str, channel: str) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == kind and e.channel == channel and "retention" in e.text]


def test_the_answer_goes_to_the_response_url_while_it_takes_it(approvals_bot: Bot) -> None:
    redone(approvals_bot)
    assert [e for e in approvals_bot.slack.events if e.kind == "response" and "retention=0d" in e.text], \
        approvals_bot.slack.events
    assert not told(approvals_bot, "ephemeral", CHANNEL)


@pytest.mark.parametrize("url", ["expired", "failing"])
def test_an_answer_the_response_url_no_longer_takes_reaches_the_person_as_an_ephemeral_message(
    approvals_bot: Bot, url: str
) -> None:
    if url == "expired":
        approvals_bot.slack.expired_responses.add("1")  # the command's response URL, past its 30 minutes
    else:
        approvals_bot.slack.failing_responses["1"] = 500  # Slack failing to take it at every try
    redone(approvals_bot)
    assert told(approvals_bot, "ephemeral", CHANNEL), approvals_bot.slack.events


def test_asked_where_the_bot_cannot_post_the_answer_reaches_the_person_in_a_direct_message(
    approvals_bot: Bot
) -> None:
    approvals_bot.slack.expired_responses.add("1")
    redone(approvals_bot, channel=PRIVATE)
    assert told(approvals_bot, "message", approvals_bot.slack.dm_channel(ALICE)), approvals_bot.slack.events

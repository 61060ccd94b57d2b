"""A change that needs approvals, whose post Slack held back (rate limited, failing) or refused while the command's
response URL could not show it either: the requester is told it could not be posted, and nothing after that
says the request is in the channel; where its approvers find it is said instead. Through Bolt's pipeline, on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import CHANNEL, Bot

from bot.domain.change_requests import RequestState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # a fixture, used by name


@pytest.mark.parametrize("error", ["ratelimited", "internal_error", "not_in_channel"])
def test_a_request_slack_did_not_post_is_not_said_to_be_in_the_channel(approvals_bot: Bot, error: str) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", error=error, channel=CHANNEL))
    bot.slack.failing_responses["1"] = 500  # the command's response URL fails too
    reply = bot.command('update acme/app-db bp01prod12h retention=1d frequency=12h reason="cost"', user=ALICE)
    [request] = bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.PENDING and request.message_ts is None
    said = [e.text for e in reply.events if e.kind == "ephemeral" and e.user == ALICE]
    assert any("posted" in text or "post" in text for text in said), said
    assert not any("the request is in the channel" in text for text in said), said
    assert any("/backup-policy pending" in text for text in said), said


def test_a_request_posted_is_still_said_to_be_in_the_channel(approvals_bot: Bot) -> None:
    reply = approvals_bot.command('update acme/app-db bp01prod12h retention=1d frequency=12h reason="cost"',
                                  user=ALICE)
    assert "the request is in the channel" in reply.all_text()

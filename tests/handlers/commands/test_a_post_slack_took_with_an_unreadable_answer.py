"""A post Slack made whose answer arrived unreadable (cut short, or replaced on its way by a page that is not JSON),
or which Slack answered with an error that may come after part of the work was done (internal_error,
fatal_error): it may have acted, as when an answer is lost. It was taken for a refusal, and the request was posted a
second time through the command's response URL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, CAROL, PROD, request_id, request_message, swept_later
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import CHANNEL, Bot
from test_bulk import add_databases

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

GARBLED = {"cut short": b'{"ok": true, "channel": "C0DBAOPS01", "ts": "17', "a page": b"<html>Bad gateway</html>",
           "empty": b"",
           # Answers of another shape, read whole: Slack answered 200, so it may have acted.
           "no ok": b'{"channel": "C0DBAOPS01", "ts": "1700000000.000100"}',
           "ok null": b'{"ok": null, "channel": "C0DBAOPS01", "ts": "1700000000.000100"}',
           "no ts": b'{"ok": true, "channel": "C0DBAOPS01"}', "a list": b'[{"ok": true}]',
           # Slack's own words for these: "It's possible some aspect of the operation succeeded before the error
           # was raised".
           "internal_error": b'{"ok": false, "error": "internal_error"}',
           "fatal_error": b'{"ok": false, "error": "fatal_error"}'}


def in_channel(bot: Bot) -> list[str]:
    """What the channel shows: messages posted there, and answers put there through a response URL."""
    return [e.text for e in bot.slack.events if (e.kind == "message" and e.channel == CHANNEL and not e.thread_ts)
            or (e.kind == "response" and e.response_type == "in_channel")]


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_a_change_applied_at_once_is_shown_once(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                garbled: bytes) -> None:
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", garbled=garbled, channel=CHANNEL,
                                              in_thread=False))
    reply = approvals_bot.command("update acme/app-db bp03devday retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1
    assert len(in_channel(approvals_bot)) == 1, in_channel(approvals_bot)
    assert "did not confirm" in reply.all_text(), reply.all_text()


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_a_request_waiting_for_approval_is_posted_once_and_found(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                                 garbled: bytes) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", garbled=garbled, channel=CHANNEL, in_thread=False))
    reply = bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    assert planetscale.calls("PATCH") == []
    assert len(in_channel(bot)) == 1, in_channel(bot)
    assert "did not confirm" in reply.all_text() and "pending" in reply.all_text(), reply.all_text()
    message = request_message(bot)
    # The sweep finds the post Slack took unheard and keeps where it is: not posted again.
    swept_later(bot)
    assert len(in_channel(bot)) == 1, in_channel(bot)
    [request] = bot.deps.store.requests([RequestState.PENDING])
    assert (request.message_channel, request.message_ts) == (CHANNEL, message.ts)
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert len(planetscale.calls("PATCH")) == 1
    assert len(in_channel(bot)) == 1, in_channel(bot)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_post_slack_made_answered_with_a_server_error_is_not_sent_again(
        approvals_bot: Bot, planetscale: PlanetScaleState, status: int) -> None:
    """A 5xx may come after Slack acted (a proxy's page once the post was made): the Slack client sent the post
    again on its own, and the channel showed the change twice."""
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", garbled=b"<html>Bad gateway</html>", garbled_status=status,
                                    channel=CHANNEL, in_thread=False))
    reply = bot.command("update acme/app-db bp03devday retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1
    assert len(in_channel(bot)) == 1, in_channel(bot)
    assert "did not confirm" in reply.all_text(), reply.all_text()
    # The sweep, which posts what Slack may not have made, finds this one made: not posted again.
    for _ in range(2):
        swept_later(bot)
    assert len(in_channel(bot)) == 1, in_channel(bot)
    assert len(bot.slack.method_calls("chat.postMessage")) == 1


def test_a_post_answered_in_an_encoding_it_is_not_in_is_shown_once(approvals_bot: Bot,
                                                                   planetscale: PlanetScaleState) -> None:
    """The answer, whole and readable, under a `Content-Encoding: gzip` that its body is not in (a proxy's doing):
    Slack made the post all the same."""
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", garbled=b'{"ok": true}', headers={"Content-Encoding": "gzip"},
                                    channel=CHANNEL, in_thread=False))
    reply = bot.command("update acme/app-db bp03devday retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1
    assert len(in_channel(bot)) == 1, in_channel(bot)
    assert "did not confirm" in reply.all_text(), reply.all_text()


@pytest.mark.parametrize("garbled", GARBLED.values(), ids=GARBLED.keys())
def test_a_bulk_change_is_posted_once_and_found(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                garbled: bytes) -> None:
    bot = approvals_bot
    add_databases(planetscale, "unseen", 2)
    bot.slack.add_fault(MethodFault("chat.postMessage", garbled=garbled, channel=CHANNEL, in_thread=False))
    reply = bot.command('update acme/unseen-* "Production daily" retention=14d', user=ALICE)
    assert len(in_channel(bot)) == 1, in_channel(bot)
    assert "did not confirm" in reply.all_text(), reply.all_text()
    for _ in range(2):
        swept_later(bot)  # past the grace of a post whose maker may still be at it
    assert len(in_channel(bot)) == 1, in_channel(bot)
    [batch] = bot.deps.store.open_batches()
    assert batch.message_channel == CHANNEL and batch.message_ts is not None

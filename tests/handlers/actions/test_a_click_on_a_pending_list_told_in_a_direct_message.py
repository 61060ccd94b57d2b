"""`/backup-policy pending` told in the approver's direct message (its response URL and the ephemeral message both
refused), listing a request whose own post in its channel Slack held back for a moment: an Approve clicked on that
list decides the request, and the list is never taken for the request's message, which the bot still owes its
channel. Through Bolt's pipeline and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, PROD, approvals_bot, request_id, swept_later
from bulk_helpers import button, channel_messages
from conftest import CHANNEL, Bot

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_an_approve_on_a_pending_list_in_a_direct_message_leaves_the_request_owed_to_its_channel(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    held_back = MethodFault("chat.postMessage", status=503, channel=CHANNEL, times=None)
    bot.slack.add_fault(held_back)
    bot.command(f"update acme/app-db {PROD} retention=1d reason=\"cost\"", user=ALICE)
    [asked] = bot.deps.store.requests()
    assert asked.message_ts is None
    bot.slack.failing_responses["1"] = 500  # the pending command's response URL
    bot.slack.add_fault(MethodFault("chat.postEphemeral", error="channel_not_found", times=None))
    bot.command("pending", user=CAROL)
    dm = bot.slack.dm_channel(CAROL)
    [listed] = [e for e in bot.slack.events if e.kind == "message" and e.channel == dm and e.blocks]
    assert request_id(listed) == asked.id
    bot.slack.faults.clear()
    bot.click(APPROVE, asked.id, user=CAROL, channel=dm, message=listed)
    decided = bot.deps.store.get_request(asked.id)
    assert decided is not None and decided.state is RequestState.APPLIED, decided
    assert decided.message_channel != dm, "the pending list in carol's direct message is taken for its message"
    swept_later(bot, 700)
    posted = [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and not e.thread_ts
              and asked.id[:8] in str(e.blocks)]
    assert posted, "the request is never posted in its channel"


def test_a_bulk_approve_on_a_pending_list_in_a_direct_message_leaves_the_bulk_change_owed_to_its_channel(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", status=503, channel=CHANNEL, times=None))
    bot.command('update acme/* "Production daily" retention=14d', user=ALICE)
    [asked] = bot.deps.bulk.store.open_batches()
    assert asked.message_ts is None
    bot.slack.failing_responses["1"] = 500
    bot.slack.add_fault(MethodFault("chat.postEphemeral", error="channel_not_found", times=None))
    bot.command("pending", user=CAROL)
    dm = bot.slack.dm_channel(CAROL)
    [listed] = [e for e in bot.slack.events if e.kind == "message" and e.channel == dm and e.blocks]
    assert button(listed, BULK_APPROVE) == asked.id
    bot.slack.faults.clear()
    bot.click(BULK_APPROVE, asked.id, user=CAROL, channel=dm, message=listed)
    decided = bot.deps.bulk.store.get_batch(asked.id)
    assert decided is not None and decided.state is not BatchState.PENDING, decided
    assert decided.message_channel != dm, "the pending list in carol's direct message is taken for its message"
    swept_later(bot, 700)
    assert channel_messages(bot), "the bulk change is never posted in its channel"

"""The audit channel refuses every post for a while (a channel ID gone, `channel_not_found`), so every applied
change stays owed its audit entry and is told again by each sweep. Once more of them are owed than a sweep
tells, a later change whose requester's DM Slack refused once must still be told: one bad audit channel never
holds up what is owed to the people."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from approval_helpers import ALICE, CAROL, approvals_bot, direct_messages, request_id, sweep
from conftest import CHANNEL, Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_dm_owed_behind_more_audit_entries_than_a_sweep_tells_is_still_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot, store = approvals_bot, approvals_bot.deps.store
    bot.deps.audit_channel = "C0GONE0001"  # no such channel: channel_not_found
    bot.command('update acme/app-db "Development daily" retention=5d', user=ALICE)
    first = store.requests([RequestState.APPLIED], told=False)[-1]
    for n in range(200):  # as many more applied changes, earlier, each still owed its audit entry
        store.add_request(replace(first, id=str(uuid.uuid4()), created_at=first.created_at - 1000 - n,
                                  told=False))
    sweep(bot)
    bot.command('update acme/app-db "Production daily" retention=1d frequency=12h reason="cost"', user=ALICE)
    message = [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and "approve" in
               json.dumps(e.blocks)][-1]
    bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", channel=ALICE))
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    victim = request_id(message)
    assert store.notice_claimed_at(victim, "dm:applied") is None  # Slack refused it: owed
    for _ in range(3):
        sweep(bot)
    assert store.notice_claimed_at(victim, "dm:applied") is not None, "its DM is never tried again"
    assert len([t for t in direct_messages(bot, ALICE) if "Production daily" in t]) == 1

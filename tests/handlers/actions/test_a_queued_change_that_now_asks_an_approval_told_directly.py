"""A change that needed no approval, queued behind another (its requester told the sweep applies it after that
one), and found by the sweep to need an approval now, is posted again with Approve buttons and noted in its
thread; its requester hears it in a direct message, once, however often the sweep passes (SQLite and
PostgreSQL). Only that path: a change whose requester is answered at once is not told twice."""

from __future__ import annotations

import time

import sqlalchemy as sa
from approval_helpers import ALICE, RULES, approvals_bot, direct_messages, second_instance, sweep, thread_of
from conftest import CHANNEL, Bot

from bot.adapters.schema import policy_leases
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name
DEV = "bp03devday"  # development: no approval needed under the shared rules
DEV_ASKS_ONE = RULES.format(approvals=1) + "approvals = 1\n"  # development now asks one approval


def queued_then_asks_an_approval(bot: Bot, planetscale: PlanetScaleState, sweepers: list[Bot]) -> None:
    changes, store = bot.deps.changes, bot.deps.store
    now = [time.time()]
    for each in sweepers:
        each.deps.changes.clock = lambda: now[0]
    changes.pause = lambda seconds: now.__setitem__(0, now[0] + 20)  # waiting for the lease runs out at once
    with store.engine.begin() as conn:  # another instance is applying a change to the same policy
        conn.execute(policy_leases.insert().values(policy_key=f"acme/app-db/{DEV}", holder="other",
                                                   until=time.time() + 3600, generation=1))
    reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
    assert "applied after it" in reply.all_text()
    for each in sweepers:
        each.use_rules(DEV_ASKS_ONE)
    with store.engine.begin() as conn:  # the other change is done
        conn.execute(sa.update(policy_leases).values(until=0))
    now[0] += 120
    for each in sweepers * 2:
        sweep(each)
    assert planetscale.calls("PATCH") == []
    [request] = store.requests()
    assert request.state is RequestState.PENDING and request.approvals_needed == 1
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]
    assert any("not applied yet" in r for r in thread_of(bot, message)), thread_of(bot, message)
    told = [m for m in direct_messages(bot, ALICE) if "waits for" in m]
    assert len(told) == 1, direct_messages(bot, ALICE)
    assert "1 approval" in told[0] and "app-db" in told[0] and "nothing was sent" in told[0], told[0]


def test_a_queued_change_that_now_needs_an_approval_is_told_to_its_requester_once(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    queued_then_asks_an_approval(approvals_bot, planetscale, [approvals_bot])


def test_told_once_when_two_instances_sweep(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    queued_then_asks_an_approval(approvals_bot, planetscale, [second_instance, approvals_bot])


def test_a_change_answered_at_once_is_not_told_again_directly(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.use_rules(DEV_ASKS_ONE)
    reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
    assert "waiting for approval" in reply.all_text().lower() or bot.deps.store.requests()
    sweep(bot)
    assert direct_messages(bot, ALICE) == []

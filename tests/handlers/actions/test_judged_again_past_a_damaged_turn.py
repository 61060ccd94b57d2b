"""A pending request or bulk change with an approval whose turn to be judged again is damaged in the database
(`judge_at` Infinity, NaN, a time no turn reaches, or text on SQLite). The sweep judges them again in turns, and no
comparison with the clock made this one's come: once the rules asked fewer approvals than it had, it still waited
until it expired. Now such a turn is due: the sweep judges it again and applies it, and /healthz names the row."""

from __future__ import annotations

import time

import sqlalchemy as sa
from approval_helpers import CAROL, RULES, approvals_bot, ask, request_id, sweep
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from test_batches import ask as ask_bulk

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def held_clock(bot: Bot, turn: object) -> list[float]:
    skip_unless_held(bot, turn, "SQLite stores NaN as NULL, no turn at all")
    now = [time.time()]
    bot.deps.changes.clock = lambda: now[0]
    bot.deps.store.clock = lambda: now[0]
    bot.use_rules(RULES.format(approvals=2))
    return now


def damage_then_sweep(bot: Bot, now: list[float], table: str, row: str, turn: object) -> None:
    """The row's turn damaged, the rules then asking only the one approval it has, and three sweeps' turns."""
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text(f"update {table} set judge_at = :turn where id = :id"),
                            {"turn": turn, "id": row}).rowcount == 1
    bot.use_rules(RULES.format(approvals=1))  # carol's approval is now all it needs
    for _ in range(3):
        now[0] += JUDGE_AGAIN_SECONDS + 1
        sweep(bot)


@damaged_times("turn")
def test_a_request_whose_turn_is_damaged_is_judged_again_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, turn: object) -> None:
    bot = approvals_bot
    now = held_clock(bot, turn)
    message = ask(bot)
    rid = request_id(message)
    bot.click(APPROVE, rid, user=CAROL, message=message)
    assert bot.deps.store.get_request(rid).state is RequestState.PENDING  # type: ignore[union-attr]
    damage_then_sweep(bot, now, "change_requests", rid, turn)
    after = bot.deps.store.get_request(rid)
    assert after is not None and after.expires_at > now[0], "the test outlived the request"
    assert after.state is RequestState.APPLIED, after.state
    assert planetscale.calls("PATCH")
    assert f"turn of change request {rid}" in " ".join(health_report(bot.deps).get("damaged_rows", []))


@damaged_times("turn")
def test_a_bulk_change_whose_turn_is_damaged_is_judged_again_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, turn: object) -> None:
    bot = approvals_bot
    now = held_clock(bot, turn)
    message, batch_id = ask_bulk(bot, planetscale, "turn")
    bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert bot.deps.store.get_batch(batch_id).state is BatchState.PENDING  # type: ignore[union-attr]
    damage_then_sweep(bot, now, "change_batches", batch_id, turn)
    after = bot.deps.store.get_batch(batch_id)
    assert after is not None and after.expires_at > now[0], "the test outlived the bulk change"
    assert after.state is BatchState.APPROVED, after.state
    assert len(planetscale.calls("PATCH")) == 2
    assert f"turn of bulk change {batch_id}" in " ".join(health_report(bot.deps).get("damaged_rows", []))

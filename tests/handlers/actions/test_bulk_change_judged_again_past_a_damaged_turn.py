"""A pending bulk change with an approval whose turn to be judged again is damaged in the database (`judge_at`
Infinity, NaN, a time no turn reaches, or text on SQLite). The sweep judges bulk changes again in turns, and no
comparison with the clock made this one's come: once the rules asked fewer approvals than it had, it still waited
until it expired. Now such a turn is due: the sweep judges it again and applies it, and /healthz names the row."""

from __future__ import annotations

import time

import sqlalchemy as sa
from approval_helpers import CAROL, RULES, approvals_bot
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from test_batches import ask, sweep

from bot.domain.batches import BatchState
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


@damaged_times("turn")
def test_a_bulk_change_whose_turn_is_damaged_is_judged_again_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, turn: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, turn, "SQLite stores NaN as NULL, no turn at all")
    now = [time.time()]
    bot.deps.changes.clock = lambda: now[0]
    bot.deps.store.clock = lambda: now[0]
    bot.use_rules(RULES.format(approvals=2))
    message, batch_id = ask(bot, planetscale, "turn")
    bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert bot.deps.store.get_batch(batch_id).state is BatchState.PENDING  # type: ignore[union-attr]
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update change_batches set judge_at = :turn where id = :id"),
                            {"turn": turn, "id": batch_id}).rowcount == 1
    bot.use_rules(RULES.format(approvals=1))  # carol's approval is now all it needs
    for _ in range(3):
        now[0] += JUDGE_AGAIN_SECONDS + 1
        sweep(bot)
    after = bot.deps.store.get_batch(batch_id)
    assert after is not None and after.expires_at > now[0], "the test outlived the bulk change"
    assert after.state is BatchState.APPROVED, after.state
    assert len(planetscale.calls("PATCH")) == 2
    assert f"turn of bulk change {batch_id}" in " ".join(health_report(bot.deps).get("damaged_rows", []))

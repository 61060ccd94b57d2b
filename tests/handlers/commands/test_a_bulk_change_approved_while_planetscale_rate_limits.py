"""A bulk change approved while PlanetScale answers every PATCH 429 (its token rate limited, Retry-After 20 s).
Each policy was sent in turn with the client's four tries and its waits: twenty policies held the approver's click
(and its worker) for twenty minutes of waits, sent 80 PATCHes into the rate limit, and every policy ended failed.
Now the first policy refused so ends its try; the others are not sent into the rate limit but left, approved, for
the sweep, which applies them once PlanetScale takes writes again. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import CAROL, approvals_bot, swept_later
from bulk_helpers import asked_over_databases, button, latest, retentions
from conftest import Bot

from bot.domain.batches import BatchState
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

COUNT = 20


def test_a_bulk_change_approved_under_a_rate_limit_sends_no_more_into_it_and_the_sweep_applies_the_rest(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    bot = approvals_bot
    names, message = asked_over_databases(bot, planetscale, COUNT)
    batch_id = button(message, BULK_APPROVE)
    planetscale.add_fault(Fault(status=429, method="PATCH", retry_after="20", times=None))
    sleeps.clear()
    bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert len(planetscale.calls("PATCH")) <= 4, "each policy sent into the rate limit with its own tries"
    assert sum(sleeps) <= 60, f"the click waited {sum(sleeps):.0f} s on a rate limit"
    view = json.dumps(latest(bot, message).blocks, ensure_ascii=False)
    assert "rate limiting" in view, view[:2000]
    assert f"{COUNT - 1} still in progress" in view and "not applied yet" in view, view[:3000]
    planetscale.faults.clear()
    swept_later(bot, 120)  # PlanetScale takes writes again
    held = retentions(planetscale, names)
    assert held.count(14) == COUNT - 1, held
    batch = bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED
    view = json.dumps(latest(bot, message).blocks, ensure_ascii=False)
    assert f"Applied to {COUNT - 1} of {COUNT}" in view and "still in progress" not in view, view[:3000]

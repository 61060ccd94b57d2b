"""A request's row locked for a while by another session on PostgreSQL (an operator's `SELECT ... FOR UPDATE` left
open, a stuck transaction): the sweep's write to it ends at the lock timeout with an error. That error ended the
whole pass: the requests after it in the pass never expired nor were settled, and the reminders, late posts and bulk
changes after that step never came, on every pass for as long as the lock was held. Now one request the sweep cannot
write to is left for the next pass, and the pass carries on with the others, without waiting for the lock (SKIP
LOCKED): with the lock timeout set far past the test's bound, a pass that waits fails the test."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, approvals_bot, latest_view, request_id, sweep
from conftest import Bot, acked_while
from row_locks import held, lock_waits_long, on_postgresql
from test_batches import ask
from test_requests import left_applying

from bot.adapters.schema import change_batches, change_requests
from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent

__all__ = ["approvals_bot", "lock_waits_long", "on_postgresql"]  # fixtures, used by name

SECOND = "bp02prodwk"
# Far past a pass over a few requests, far short of the statement timeout that would end a wait for the lock.
SWEEP_BOUND = 20.0


def row_locked(url: str, rid: str) -> contextlib.AbstractContextManager[None]:
    """Another session holds the request's row `FOR UPDATE` meanwhile."""
    return held(url, "change_requests", "id", rid)


def asked(bot: Bot, policy_id: str) -> SlackEvent:
    bot.command(f"update acme/app-db {policy_id} retention=5w reason=\"cost\"", user=ALICE)
    return [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
            and e.channel in bot.slack.channels][-1]


def test_a_locked_request_keeps_no_other_from_expiring(lock_waits_long: None, approvals_bot: Bot,
                                                       on_postgresql: str) -> None:
    bot = approvals_bot
    first, second = asked(bot, "bp01prod12h"), asked(bot, SECOND)
    assert request_id(first) != request_id(second)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).values(expires_at=0))
    with row_locked(on_postgresql, request_id(first)):
        acked_while(lambda: sweep(bot), SWEEP_BOUND, "the sweep")  # skipped, not waited for
    assert "Expired" in latest_view(bot, second)
    assert bot.deps.store.get_request(request_id(second)).state == "expired"  # type: ignore[union-attr]
    assert bot.deps.store.get_request(request_id(first)).state == "pending"  # type: ignore[union-attr]
    sweep(bot)  # the lock given back: the next pass expires it
    assert "Expired" in latest_view(bot, first)


def test_a_locked_request_keeps_no_other_left_applying_from_being_settled(
        lock_waits_long: None, approvals_bot: Bot, planetscale: PlanetScaleState, on_postgresql: str) -> None:
    bot = approvals_bot
    older = left_applying(bot)
    newer = request_id(asked(bot, SECOND))
    bot.deps.store.add_approval(newer, CAROL)
    bot.deps.store.transition(newer, ["pending"], "approved")
    bot.deps.store.transition(newer, ["approved"], "applying")
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).where(change_requests.c.id == newer).values(updated_at=1))
    with row_locked(on_postgresql, older):
        acked_while(lambda: sweep(bot), SWEEP_BOUND, "the sweep")
    assert bot.deps.store.get_request(newer).state == "applied"  # type: ignore[union-attr]
    assert [c for c in planetscale.calls("PATCH") if SECOND in c.path] != []
    assert bot.deps.store.get_request(older).state == "applying"  # type: ignore[union-attr]
    sweep(bot)
    assert bot.deps.store.get_request(older).state == "applied"  # type: ignore[union-attr]


def test_a_locked_bulk_change_keeps_no_other_from_expiring(
        lock_waits_long: None, approvals_bot: Bot, planetscale: PlanetScaleState, on_postgresql: str) -> None:
    bot, store = approvals_bot, approvals_bot.deps.store
    _, first = ask(bot, planetscale, "one")
    for name in ("two-0", "two-1"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.command("update acme/two-* * retention=14d", user=ALICE)
    [second] = {batch.id for batch in store.open_batches()} - {first}
    with store.engine.begin() as conn:
        conn.execute(sa.update(change_batches).values(expires_at=0))
    with held(on_postgresql, "change_batches", "id", first):
        acked_while(lambda: sweep(bot), SWEEP_BOUND, "the sweep")
    assert store.get_batch(second).state is BatchState.EXPIRED  # type: ignore[union-attr]
    assert store.get_batch(first).state is BatchState.PENDING  # type: ignore[union-attr]
    sweep(bot)
    assert store.get_batch(first).state is BatchState.EXPIRED  # type: ignore[union-attr]

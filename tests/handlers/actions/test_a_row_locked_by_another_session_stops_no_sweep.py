"""A request's row locked for a while by another session on PostgreSQL (an operator's `SELECT ... FOR UPDATE` left
open, a stuck transaction): the sweep's write to it ends at the lock timeout with an error. That error ended the
whole pass: the requests after it in the pass never expired nor were settled, and the reminders, late posts and bulk
changes after that step never came, on every pass for as long as the lock was held. Now one request the sweep cannot
write to is left for the next pass, and the pass carries on with the others."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, approvals_bot, latest_view, request_id, sweep
from conftest import Bot
from test_requests import left_applying

from bot.adapters.schema import change_requests
from bot.adapters.store.connection import database_url
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent

__all__ = ["approvals_bot"]  # a fixture, used by name

SECOND = "bp02prodwk"


@pytest.fixture
def on_postgresql(store_url: str) -> str:
    if not store_url.startswith("postgresql"):
        pytest.skip("a lock on one row is PostgreSQL's: SQLite locks the whole file, and its writers wait their turn")
    return store_url


@contextlib.contextmanager
def row_locked(url: str, rid: str) -> Iterator[None]:
    """Another session holds the request's row `FOR UPDATE` meanwhile."""
    engine = sa.create_engine(database_url(url))
    conn = engine.connect()
    conn.begin()
    try:
        assert conn.execute(sa.text("SELECT id FROM change_requests WHERE id = :id FOR UPDATE"),
                            {"id": rid}).scalar() == rid
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def asked(bot: Bot, policy_id: str) -> SlackEvent:
    bot.command(f"update acme/app-db {policy_id} retention=5w reason=\"cost\"", user=ALICE)
    return [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
            and e.channel in bot.slack.channels][-1]


def test_a_locked_request_keeps_no_other_from_expiring(approvals_bot: Bot, on_postgresql: str) -> None:
    bot = approvals_bot
    first, second = asked(bot, "bp01prod12h"), asked(bot, SECOND)
    assert request_id(first) != request_id(second)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).values(expires_at=0))
    with row_locked(on_postgresql, request_id(first)):
        sweep(bot)
    assert "Expired" in latest_view(bot, second)
    assert bot.deps.store.get_request(request_id(second)).state == "expired"  # type: ignore[union-attr]
    assert bot.deps.store.get_request(request_id(first)).state == "pending"  # type: ignore[union-attr]
    sweep(bot)  # the lock given back: the next pass expires it
    assert "Expired" in latest_view(bot, first)


def test_a_locked_request_keeps_no_other_left_applying_from_being_settled(
        approvals_bot: Bot, planetscale: PlanetScaleState, on_postgresql: str) -> None:
    bot = approvals_bot
    older = left_applying(bot)
    newer = request_id(asked(bot, SECOND))
    bot.deps.store.add_approval(newer, CAROL)
    bot.deps.store.transition(newer, ["pending"], "approved")
    bot.deps.store.transition(newer, ["approved"], "applying")
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).where(change_requests.c.id == newer).values(updated_at=1))
    with row_locked(on_postgresql, older):
        sweep(bot)
    assert bot.deps.store.get_request(newer).state == "applied"  # type: ignore[union-attr]
    assert [c for c in planetscale.calls("PATCH") if SECOND in c.path] != []
    assert bot.deps.store.get_request(older).state == "applying"  # type: ignore[union-attr]
    sweep(bot)
    assert bot.deps.store.get_request(older).state == "applied"  # type: ignore[union-attr]

"""An instance's own inbox row locked by another session (an operator's `SELECT ... FOR UPDATE` left open in psql,
a stuck transaction) while the instance works on it and on others: the renewal of its leases waited for that row
past the lock timeout and failed, every time, so its other rows lapsed while their work was under way, and another
instance took them over and did that work a second time (a read answered twice)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from conftest import ALICE
from test_inbox import Instances, acked, inbox_of, instances, keeper_of

from bot.adapters.schema import deliveries
from bot.adapters.store.connection import database_url
from bot.adapters.store.inbox import LEASE_SECONDS
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackState

__all__ = ["instances"]  # a fixture, used by name

# The most connections the store's pool opens: SQLAlchemy's QueuePool defaults (pool_size 5, max_overflow 10).
POOL_LIMIT = 15


def test_a_locked_row_of_an_instance_lets_none_of_its_other_work_be_taken_over(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    if not instances.url.startswith("postgresql"):
        pytest.skip("a lock on one row is PostgreSQL's: SQLite locks the whole file, and its writers wait their turn")
    working, other = instances.start(), instances.start()
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, times=None, method="GET"))
    engine = sa.create_engine(database_url(instances.url))
    try:
        assert acked(working, working.command_body("list acme/app-db", user=ALICE)) == 200
        assert acked(working, working.command_body("list acme/app-db", user=ALICE)) == 200
        with engine.connect() as conn, conn.begin():
            keys = conn.execute(sa.select(deliveries.c.key).where(deliveries.c.body.is_not(None))
                                .order_by(deliveries.c.at)).scalars().all()
            assert len(keys) == 2
            conn.execute(sa.select(deliveries.c.key).where(deliveries.c.key == keys[0]).with_for_update()).all()
            # The database's clock moves on past the ack's lease; the working instance renews as its keeper does.
            inbox_of(working).ahead = LEASE_SECONDS + 1
            inbox_of(working).renew()
            keeper_of(other, LEASE_SECONDS + 1).step()
        held.set()
        assert working.executor.wait_idle(timeout=60) and other.executor.wait_idle(timeout=60)
    finally:
        held.set()
        engine.dispose()
    listed = [e for e in slack.events if e.kind in ("response", "ephemeral")]
    assert len(listed) == 2, [(e.kind, e.channel, e.text[:60]) for e in listed]


def test_an_instance_whose_pool_is_taken_by_slow_work_keeps_its_leases(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    """Every connection of the instance's pool held by work waiting on a slow database (a locked table, a
    statement sleeping in a trigger): the renewal of its inbox leases waited for a connection of that pool (30 s)
    and its leases lapsed, so another instance took over and answered again its work under way. The renewal has
    connections of its own."""
    if not instances.url.startswith("postgresql"):
        pytest.skip("instances that take over each other's work share PostgreSQL: on SQLite, serve's processes "
                    "hold their work under one name")
    working, other = instances.start(), instances.start()
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, times=None, method="GET"))
    taken = []
    try:
        assert acked(working, working.command_body("list acme/app-db", user=ALICE)) == 200
        engine = working.deps.store.engine
        while engine.pool.checkedout() < POOL_LIMIT:  # type: ignore[attr-defined]
            taken.append(engine.connect())
        inbox_of(working).ahead = LEASE_SECONDS + 1
        inbox_of(working).renew()
        keeper_of(other, LEASE_SECONDS + 1).step()
        for conn in taken:
            conn.close()
        held.set()
        assert working.executor.wait_idle(timeout=60) and other.executor.wait_idle(timeout=60)
    finally:
        held.set()
        for conn in taken:
            conn.close()
    listed = [e for e in slack.events if e.kind in ("response", "ephemeral")]
    assert len(listed) == 1, [(e.kind, e.text[:60]) for e in listed]

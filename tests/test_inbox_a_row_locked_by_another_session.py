"""An inbox row another session holds locked on PostgreSQL (an operator's `SELECT ... FOR UPDATE` left open, a stuck
transaction): the keeper's take-over waited for it past the lock timeout and failed, every step while the lock was
held, so no instance redid any stopped instance's work, the rest of the rows included. Now a locked row is left for
the next step and the others are redone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import ALICE
from test_inbox import PROD, Instances, Killed, acked, instances, keeper_of, left_undone

from bot.adapters.schema import deliveries
from bot.adapters.store.connection import database_url
from bot.adapters.store.inbox import LEASE_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["instances"]  # a fixture, used by name

DEV = "bp03devday"


def test_a_locked_inbox_row_keeps_no_other_from_being_redone(
        instances: Instances, planetscale: PlanetScaleState) -> None:
    if not instances.url.startswith("postgresql"):
        pytest.skip("a lock on one row is PostgreSQL's: SQLite locks the whole file, and its writers wait their turn")
    killed, alive = instances.start(Killed()), instances.start()
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert acked(killed, killed.command_body(f"update acme/app-db {DEV} retention=5d", user=ALICE)) == 200
    assert len(left_undone(alive)) == 2
    engine = sa.create_engine(database_url(instances.url))
    with engine.connect() as conn, conn.begin():
        first = conn.execute(sa.select(deliveries.c.key).where(deliveries.c.body.is_not(None))
                             .order_by(deliveries.c.at).limit(1).with_for_update()).scalar_one()
        keeper_of(alive, LEASE_SECONDS + 1).step()
        assert alive.executor.wait_idle(timeout=60)
        assert [c.path for c in planetscale.calls("PATCH")] == [f"/organizations/acme/databases/app-db/"
                                                                 f"backup-policies/{DEV}"], first
    engine.dispose()
    keeper_of(alive, LEASE_SECONDS + 1).step()  # the lock given back: redone at the next step
    assert alive.executor.wait_idle(timeout=60)
    assert len(planetscale.calls("PATCH")) == 2 and left_undone(alive) == []

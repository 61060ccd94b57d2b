"""An instance frozen in the middle of a transaction (SIGSTOP, a paused VM or container, a debugger): its session sits
idle in that transaction, holding every row lock it took, for as long as it stays frozen, since its sockets stay
open and PostgreSQL ends no idle transaction by itself. Frozen in a claim, it held the database's lease row, and
every other instance's change to any policy of that database failed ("could not answer in time") until it was
resumed, which may be never. Now PostgreSQL ends a session idle in a transaction past a bound, and the others go on."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import ALICE
from test_inbox import PROD, Instances, acked, instances

from bot.adapters.store import connection
from bot.adapters.store.connection import database_url
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState

__all__ = ["instances"]  # a fixture, used by name

DEV = "bp03devday"


def test_an_instance_frozen_in_a_claim_holds_no_other_instances_change_back(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not instances.url.startswith("postgresql"):
        pytest.skip("a lock held by a session idle in its transaction is PostgreSQL's: SQLite's one writer at a "
                    "time is bounded by its busy timeout")
    monkeypatch.setattr(connection, "IDLE_IN_TRANSACTION_MS", 1_000, raising=False)  # the test's bound
    frozen, other = instances.start(), instances.start()
    resumed, froze = threading.Event(), threading.Event()
    lock_database = frozen.deps.store._lock_database

    def freezing(conn: Any, organization: str, database: str) -> None:
        lock_database(conn, organization, database)
        froze.set()
        resumed.wait(60)  # SIGSTOP, right after the claim locked the database's lease row

    frozen.deps.store._lock_database = freezing  # type: ignore[method-assign]
    try:
        assert acked(frozen, frozen.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
        assert froze.wait(30)
        other.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
        assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 5, \
            [e.text for e in slack.events if e.kind in ("response", "ephemeral")]
    finally:
        resumed.set()
    assert frozen.executor.wait_idle(timeout=60)
    # Resumed, the frozen instance finds its session ended: its person is told to try again; nothing was sent.
    told = [e.text for e in slack.events if e.kind in ("response", "ephemeral")]
    assert len(told) == 1 and "held up inside a transaction" in told[0] and "try again" in told[0], told
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] != 9


def test_an_instance_whose_session_is_ended_mid_claim_tells_so_while_the_other_carries_on(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    """An administrator ends one instance's session in the middle of its claim (`pg_terminate_backend`): the other
    instance's change goes through, and the person whose claim it was is told the connection was ended and to try
    again, not that the database's server is shutting down."""
    if not instances.url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    ended, other = instances.start(), instances.start()
    resumed, froze = threading.Event(), threading.Event()
    lock_database = ended.deps.store._lock_database
    sessions: list[int] = []

    def pausing(conn: Any, organization: str, database: str) -> None:
        lock_database(conn, organization, database)
        sessions.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        froze.set()
        resumed.wait(60)

    ended.deps.store._lock_database = pausing  # type: ignore[method-assign]
    try:
        assert acked(ended, ended.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
        assert froze.wait(30)
        engine = sa.create_engine(database_url(instances.url))
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": sessions[0]})
        engine.dispose()
        other.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
        assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 5
    finally:
        resumed.set()
    assert ended.executor.wait_idle(timeout=60)
    told = [e.text for e in slack.events if e.kind in ("response", "ephemeral")]
    assert len(told) == 1 and "shutting down" not in told[0] and "ended" in told[0] and "try again" in told[0], told
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] != 9

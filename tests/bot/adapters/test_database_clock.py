"""The store's clock (bot/adapters/store/clock.py): on PostgreSQL the database's, whatever the host's wall clock
says or how it steps; on SQLite the host's own (one machine)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.adapters.store import Store
from bot.adapters.store.clock import DatabaseClock
from bot.adapters.store.connection import database_url


def test_the_store_reads_the_databases_clock_whatever_its_hosts_wall_clock_says(store_url: str) -> None:
    ahead = time.time() + 3600.0
    wall = [ahead]  # the host's clock, an hour ahead, then stepped back two (NTP, a resumed VM)
    store = Store(store_url, wall=lambda: wall[0])
    try:
        store.migrate()
        first = store.clock()
        wall[0] = ahead - 7200.0
        second = store.clock()
        if store_url.startswith("postgresql"):  # the test's PostgreSQL runs on this machine, on its clock
            assert abs(first - time.time()) < 5 and 0 <= second - first < 5
        else:
            assert (first, second) == (ahead, ahead - 7200.0)
    finally:
        store.close()


class SlowToConnect:
    """An engine whose connections take `seconds` to be had (a pool waited for, a connection opened afresh)."""

    def __init__(self, engine: Engine, seconds: float):
        self.engine, self.seconds = engine, seconds

    def connect(self) -> Connection:
        time.sleep(self.seconds)
        return self.engine.connect()


def test_a_reading_that_waited_for_its_connection_is_not_ahead_by_half_the_wait(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("the database's clock is read on PostgreSQL only; SQLite's store keeps the host's")
    engine = sa.create_engine(database_url(store_url))
    try:
        clock = DatabaseClock(lambda: SlowToConnect(engine, 3.0), postgresql=True)  # type: ignore[arg-type,return-value]
        assert clock.read() is not None
        assert abs(clock() - time.time()) < 0.5  # the test's PostgreSQL runs on this machine, on its clock
    finally:
        engine.dispose()

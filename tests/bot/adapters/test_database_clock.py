"""The store's clock (bot/adapters/store/clock.py): on PostgreSQL the database's, whatever the host's wall clock
says or how it steps; on SQLite the host's own (one machine)."""

from __future__ import annotations

import time

from bot.adapters.store import Store


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

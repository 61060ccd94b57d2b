"""PlanetScale's budget is per service token, so instances that share one share its 600 requests a minute: on
PostgreSQL, through the database; on SQLite (`serve`'s processes), through a file of its own beside it. The
emulator enforces the budget per token over a sliding window; the limiters and the emulator share a fake clock
that only the limiters' waits move.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_planetscale_budget import FakeClock, client

from bot.adapters.rate_limit import RateLimiter
from bot.adapters.shared_budget import SharedRateLimiter
from bot.adapters.store import Store
from bot.domain.ports import RateLimited
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_state import DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer


@pytest.fixture
def clock(planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer],
          planetscale: PlanetScaleState) -> Iterator[FakeClock]:
    fake = FakeClock()
    planetscale.clock = fake
    planetscale.rate_limit = (600, 60.0)
    yield fake
    planetscale.rate_limit = None


@pytest.fixture
def instances(store_url: str) -> Iterator[list[Store]]:
    """Two instances' databases (or on SQLite two processes' of one `serve`): two engines, two pools of
    connections, on one database."""
    stores = [Store(store_url), Store(store_url)]
    stores[0].migrate()
    yield stores
    for store in stores:
        store.close()


def shared(store: Store, clock: FakeClock, max_wait: float = 20.0) -> SharedRateLimiter:
    return SharedRateLimiter(store, DEMO_TOKEN_ID, 600, 60.0, max_wait=max_wait, clock=clock, sleep=clock.sleep)


def burst(bots: list[object], each: int) -> list[Exception]:
    """`each` requests from each client, on a thread of its own."""
    failures: list[Exception] = []

    def send(bot: object) -> None:
        try:
            for _ in range(each):
                bot.list_policies("acme", "app-db")  # type: ignore[attr-defined]
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(bot,)) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_two_instances_on_one_database_share_the_budget_and_never_get_a_429(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock, instances: list[Store]
) -> None:
    server = planetscale_server[1]
    bots = [client(server, shared(store, clock)) for store in instances for _ in range(2)]  # two threads each
    started = clock()
    assert burst(bots, 300) == []
    assert planetscale.rate_limited == 0 and len(planetscale.calls("GET")) == 1200
    # One budget: 1,200 requests take as long as one process's would (60 at once, then 528 a minute).
    assert clock() - started >= (1200 - 60) / bots[0].limiter.rate * 0.99  # type: ignore[union-attr]


def test_two_instances_each_with_its_own_budget_get_429s(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock
) -> None:
    """What the shared budget prevents: each process keeps to 600 a minute, together they send twice that."""
    server = planetscale_server[1]
    bots = [client(server, RateLimiter(600, 60.0, clock=clock, sleep=clock.sleep)) for _ in range(2)]
    failures = burst(bots, 400)
    assert planetscale.rate_limited > 0 and any(isinstance(f, RateLimited) for f in failures)


def test_a_turn_further_than_the_bound_is_refused_unsent_and_takes_no_place(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock, instances: list[Store]
) -> None:
    waits: list[float] = []
    first = SharedRateLimiter(instances[0], DEMO_TOKEN_ID, 600, 60.0, max_wait=5.0, clock=clock, sleep=waits.append)
    while not waits or waits[-1] + first.interval <= 5.0:
        first.acquire()  # places in the line, time standing still
    other = client(planetscale_server[1], shared(instances[1], clock, max_wait=5.0))
    with pytest.raises(RateLimited, match=r"budget \(600 requests per 60 s\).*try again"):
        other.get_policy("acme", "app-db", "bp03devday")
    assert planetscale.calls("GET") == []
    clock.now += 1.0
    other.get_policy("acme", "app-db", "bp03devday")
    assert len(planetscale.calls("GET")) == 1


def test_the_shared_budget_tells_the_watch_when_people_need_it(clock: FakeClock, instances: list[Store]) -> None:
    limiter = shared(instances[0], clock)
    assert not limiter.busy()
    for _ in range(limiter.burst // 2 + 1):
        limiter.acquire()
    assert limiter.busy() and limiter.backlog() == 0.0
    clock.now += 60
    assert not limiter.busy()


def test_a_database_that_fails_leaves_each_instance_its_own_bucket(clock: FakeClock, tmp_path: object) -> None:
    """Not a stop: the budget is kept in-process until the database answers again (logged)."""
    store = Store("postgresql://nobody@127.0.0.1:1/none")
    limiter = SharedRateLimiter(store, DEMO_TOKEN_ID, 600, 60.0, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0.0
    store.close()


def test_on_sqlite_the_budget_never_waits_for_the_database_lock(tmp_path: Path) -> None:
    """Each PlanetScale request moves the budget: on the database's one lock, every ack's inbox row would wait for
    it. Two processes' limiters share the budget while another connection holds the database's write lock."""
    import sqlite3

    clock = FakeClock()
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    stores = [Store(url), Store(url)]
    stores[0].migrate()
    first, second = (SharedRateLimiter(store, DEMO_TOKEN_ID, 600, 60.0, clock=clock, sleep=clock.sleep)
                     for store in stores)
    holder = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waits: list[float] = []
    try:
        worker = threading.Thread(target=lambda: waits.extend(
            [first.acquire() for _ in range(first.burst)] + [second.acquire()]))
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "the budget waited for the database's write lock"
    finally:
        holder.rollback()
        holder.close()
    # The second process's first request waits for its turn after the first's burst: one budget, not two.
    assert max(waits[:-1]) < 1e-9 and waits[-1] == pytest.approx(first.interval)
    assert first.path == f"{tmp_path / 'bot.db'}-budget" and Path(first.path).exists()
    for limiter, store in zip((first, second), stores, strict=True):
        limiter.close()
        store.close()

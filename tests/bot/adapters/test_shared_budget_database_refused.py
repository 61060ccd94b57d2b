"""PlanetScale's budget shared by instances whose database refuses: each keeps to its share of the budget in
memory (the whole of it for an instance that last saw itself alone, half for two), so that together they stay
within PlanetScale's 600 a minute per token and never collect 429s, and they share the database's row again once
it answers. The database refuses for real: PostgreSQL behind a proxy of the test's own that stops listening, and
on SQLite (`serve`'s processes) the budget's file locked by another connection. The emulator enforces the budget
per token; a fake clock moved by the waits."""

from __future__ import annotations

import contextlib
import logging
import socket
import sqlite3
import threading
from collections.abc import Iterator

import pytest
from conftest import acked_while
from row_locks import held, lock_waits_long
from sqlalchemy.engine import make_url
from test_planetscale_budget import FakeClock, client
from test_shared_budget import burst, clock, shared

from bot.adapters import shared_budget
from bot.adapters.shared_budget import SEEN_EVERY_SECONDS, SharedRateLimiter
from bot.adapters.store import Store
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_state import DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer

__all__ = ["clock", "lock_waits_long"]  # fixtures, used by name


@pytest.fixture
def refusing() -> Iterator[list[Store]]:
    """Two instances' stores on a PostgreSQL that refuses every connection (nothing listens on its port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stores = [Store(f"postgresql://postgres@127.0.0.1:{port}/bot") for _ in range(2)]
    yield stores
    for store in stores:
        store.close()


def test_two_instances_whose_database_refuses_keep_together_to_the_budget(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock, refusing: list[Store]
) -> None:
    server = planetscale_server[1]
    bots = [client(server, SharedRateLimiter(store, DEMO_TOKEN_ID, 600, 60.0, clock=clock, sleep=clock.sleep))
            for store in refusing]
    failures = burst(bots, 400)
    assert planetscale.rate_limited == 0 and failures == [], (planetscale.rate_limited, failures[:3])


class RefusingProxy:
    """Forwards TCP to `upstream`; `refuse` stops listening and drops every connection (PostgreSQL down, or its
    host unreachable and refusing), `answer` listens again on the same port."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._serve()

    def _serve(self) -> None:
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.upstream)
            self.sockets += [near, far]
            for src, dst in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)

    def refuse(self) -> None:
        for each in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)  # a close alone leaves the threads blocked on it served
            each.close()
        self.sockets = []

    def answer(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self._serve()


class Refusable:
    """The database where instances share the budget, made to refuse and to answer again."""

    def __init__(self, store_url: str):
        self.stores: list[Store] = []
        self.url = store_url
        self.proxy: RefusingProxy | None = None
        self.holder: sqlite3.Connection | None = None
        if store_url.startswith("postgresql"):
            Store(store_url).migrate()
            url = make_url(store_url)
            self.proxy = RefusingProxy((url.host or "127.0.0.1", url.port or 5432))
            self.url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)

    def store(self) -> Store:
        self.stores.append(Store(self.url))
        return self.stores[-1]

    def refuse(self) -> None:
        if self.proxy is not None:
            self.proxy.refuse()
            return
        # The budget's file, locked for writing: each reservation fails at once (no busy wait, see the fixture).
        path = shared_budget.budget_path(self.url)
        assert path is not None
        self.holder = sqlite3.connect(path, isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")

    def answer(self) -> None:
        if self.proxy is not None:
            self.proxy.answer()
        elif self.holder is not None:
            self.holder.rollback()
            self.holder.close()
            self.holder = None

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.refuse()
        elif self.holder is not None:
            self.answer()
        for store in self.stores:
            store.close()


@pytest.fixture
def refusable(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Refusable]:
    monkeypatch.setattr(shared_budget, "SQLITE_BUSY_SECONDS", 0.0)
    made = Refusable(store_url)
    yield made
    made.close()


def in_turn(bots: list[object], each: int) -> list[Exception]:
    """`each` requests from each client, one after the other's on one thread: the fake clock moves by each wait
    alone (threads waiting at once would move it by the sum of their waits, hiding a budget sent twice over)."""
    failures: list[Exception] = []
    for _ in range(each):
        for bot in bots:
            try:
                bot.list_policies("acme", "app-db")  # type: ignore[attr-defined]
            except Exception as exc:
                failures.append(exc)
    return failures


def seen_together(bots: list[object], clock: FakeClock) -> None:
    """Each instance sends a request through the row, and again once each marks itself anew: each has seen all."""
    for _ in range(2):
        for bot in bots:
            bot.list_policies("acme", "app-db")  # type: ignore[attr-defined]
        clock.now += SEEN_EVERY_SECONDS


def test_one_instance_alone_keeps_the_whole_budget_while_its_database_refuses(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock, refusable: Refusable, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = shared(refusable.store(), clock)
    bot = client(planetscale_server[1], limiter)
    seen_together([bot], clock)
    refusable.refuse()
    clock.now += 60  # the bucket full again
    started = clock()
    assert burst([bot], 300) == []
    assert planetscale.rate_limited == 0 and "keeps to its share of it (1/1)" in caplog.text
    # The whole budget's pace: a burst at once, then 528 a minute (half the budget would take twice as long).
    assert clock() - started == pytest.approx((300 - limiter.burst) / limiter.rate, rel=0.02)


def test_two_instances_that_saw_each_other_keep_together_to_the_budget_while_their_database_refuses(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock, refusable: Refusable, caplog: pytest.LogCaptureFixture
) -> None:
    limiters = [shared(refusable.store(), clock) for _ in range(2)]
    bots = [client(planetscale_server[1], limiter) for limiter in limiters]
    seen_together(bots, clock)
    refusable.refuse()
    started = clock()
    assert in_turn(bots, 400) == []
    assert planetscale.rate_limited == 0 and caplog.text.count("keeps to its share of it (1/2)") == 2
    # Each at half the pace: 800 requests take as long as one budget's would, less its burst.
    assert clock() - started >= (800 - limiters[0].burst) / limiters[0].rate * 0.98


def test_instances_share_the_row_again_once_their_database_answers(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock, refusable: Refusable, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=shared_budget.__name__)
    limiters = [shared(refusable.store(), clock) for _ in range(2)]
    bots = [client(planetscale_server[1], limiter) for limiter in limiters]
    seen_together(bots, clock)
    refusable.refuse()
    assert in_turn(bots, 150) == []  # each at its share, its bucket used up
    assert caplog.text.count("keeps to its share of it (1/2)") == 2
    refusable.answer()
    # What each took of its share meanwhile carries on in the row: no fresh burst on top of it, within the minute.
    assert in_turn(bots, 250) == []
    assert planetscale.rate_limited == 0 and caplog.text.count("shares it again") == 2
    # Back on the row, one instance alone sends at the whole budget's pace, not its share's.
    clock.now += 60
    started = clock()
    assert burst(bots[:1], 150) == []
    assert planetscale.rate_limited == 0
    assert clock() - started == pytest.approx((150 - limiters[0].burst) / limiters[0].rate, rel=0.02)


def test_two_instances_keep_together_to_the_budget_while_another_session_holds_its_row(
    lock_waits_long: None, planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer],
    planetscale: PlanetScaleState, clock: FakeClock, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator's lock on the budget's row (or an instance frozen inside its reservation): each instance keeps
    to its share meanwhile, at once, never waiting for the row (the store's lock timeout is past the bound here)."""
    stores = [Store(postgres_url) for _ in range(2)]
    stores[0].migrate()
    try:
        limiters = [shared(store, clock) for store in stores]
        bots = [client(planetscale_server[1], limiter) for limiter in limiters]
        seen_together(bots, clock)
        started = clock()
        with held(postgres_url, "planetscale_budget", "name", limiters[0].name):
            failures = acked_while(lambda: in_turn(bots, 400), 120, "the requests")
    finally:
        for store in stores:
            store.close()
    assert failures == [] and planetscale.rate_limited == 0, failures[:3]
    assert caplog.text.count("keeps to its share of it (1/2)") == 2
    assert clock() - started >= (800 - limiters[0].burst) / limiters[0].rate * 0.98

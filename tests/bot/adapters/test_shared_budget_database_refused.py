"""PlanetScale's budget shared by two instances on one PostgreSQL database that refuses connections: each falls
back to a bucket of its own, which is the whole budget (600 a minute), so together they send twice PlanetScale's
budget per token and collect 429s. The emulator enforces the budget per token; a fake clock moved by the waits."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from test_planetscale_budget import FakeClock, client
from test_shared_budget import burst, clock

from bot.adapters.shared_budget import SharedRateLimiter
from bot.adapters.store import Store
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_state import DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer

__all__ = ["clock"]  # a fixture, used by name


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


@pytest.mark.xfail(strict=True, reason="defect: SharedRateLimiter falls back to a local bucket of the whole budget "
                   "while the database refuses, so N instances send N x 600 a minute; fix: fall back to a share of it "
                   "(e.g. by the instances last seen sharing the row), or hold to the last known turn")
def test_two_instances_whose_database_refuses_keep_together_to_the_budget(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock, refusing: list[Store]
) -> None:
    server = planetscale_server[1]
    bots = [client(server, SharedRateLimiter(store, DEMO_TOKEN_ID, 600, 60.0, clock=clock, sleep=clock.sleep))
            for store in refusing]
    failures = burst(bots, 400)
    assert planetscale.rate_limited == 0 and failures == [], (planetscale.rate_limited, failures[:3])

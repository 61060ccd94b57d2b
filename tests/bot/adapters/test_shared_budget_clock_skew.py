"""Two instances on one PostgreSQL database share PlanetScale's budget per token (bot/adapters/shared_budget.py),
whose row holds a time. Were it each host's wall clock, a host 31 minutes ahead (no NTP, a VM resumed) would move
the bucket's next turn half an hour past the other's now: one command there, and every command on the other host
is refused as over budget for half an hour, though PlanetScale saw three requests. The budget's time is the
database's, as the store's leases are. Through Bolt, two instances, each with its own PlanetScale client."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator

import pytest
from test_inbox import Instances, instances

from bot.adapters import shared_budget
from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.rate_limit import RateLimiter
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID
from bot.emulators.serving import BackgroundServer

__all__ = ["instances"]  # a fixture, used by name

SKEW = 31 * 60.0  # one host's clock, 31 minutes ahead


@pytest.fixture
def clients(planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer]) -> Iterator[list[PlanetScaleClient]]:
    """One PlanetScale client per instance, each with the budget's bucket that `serve` gives it."""
    url = planetscale_server[1].url + "/v1"
    made = [PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, url, limiter=RateLimiter(600, 60.0)) for _ in range(2)]
    yield made
    for client in made:
        client.close()


def test_a_host_whose_clock_is_ahead_does_not_use_up_the_budget_of_the_others(
        store_url: str, instances: Instances, clients: list[PlanetScaleClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("instances share a database only on PostgreSQL (SQLite's processes share one host's clock)")
    real = time.time

    def ahead_clock() -> float:
        return real() + SKEW

    # The host ahead: its wall clock, as its store reads it, and as the budget would were it the host's time.
    monkeypatch.setattr(shared_budget, "time", types.SimpleNamespace(time=ahead_clock), raising=False)
    instances.client = clients[0]
    ahead = instances.start(wall=ahead_clock)
    monkeypatch.undo()
    instances.client = clients[1]
    behind = instances.start()

    first = ahead.command("status acme/app-db")
    assert "budget" not in first.ack_text + "".join(e.text for e in first.events)
    second = behind.command("status acme/app-db")
    told = second.ack_text + "".join(e.text for e in second.events)
    assert "budget" not in told, f"the host on time was refused PlanetScale after 1 command elsewhere: {told}"

"""PlanetScale's budget (600 requests a minute): a burst beyond it waits instead of collecting 429s.

The emulator enforces the budget over a sliding window; the limiter and the emulator share a fake clock,
which only the limiter's waits move, so the tests take no real minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.rate_limit import RateLimiter, parse_rate
from bot.domain.ports import RateLimited
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer


class FakeClock:
    """Time that passes only when someone waits (several threads waiting at once make it pass faster, which
    only spaces their requests further apart)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += seconds


@pytest.fixture
def clock(planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer],
          planetscale: PlanetScaleState) -> Iterator[FakeClock]:
    fake = FakeClock()
    planetscale.clock = fake
    planetscale.rate_limit = (600, 60.0)
    yield fake
    planetscale.rate_limit = None


def client(server: BackgroundServer, limiter: RateLimiter | None) -> PlanetScaleClient:
    return PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, server.url + "/v1", limiter=limiter,
                             retry=RetryPolicy(attempts=1))


def test_a_burst_of_1000_requests_waits_for_the_budget_instead_of_getting_429s(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock
) -> None:
    limiter = RateLimiter(600, 60.0, clock=clock, sleep=clock.sleep)
    bot = client(planetscale_server[1], limiter)
    started = clock()
    for _ in range(1000):
        bot.get_policy("acme", "app-db", "bp03devday")
    assert planetscale.rate_limited == 0
    assert len(planetscale.calls("GET")) == 1000
    # 60 at once, then the rest spread out: 940 more at 528 a minute take more than a minute and a half.
    assert clock() - started == pytest.approx(940 / limiter.rate, rel=0.01)
    assert clock() - started > 100


def test_without_the_limiter_the_same_burst_is_refused_by_planetscale(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock
) -> None:
    bot = client(planetscale_server[1], None)
    with pytest.raises(RateLimited):
        for _ in range(1000):
            bot.get_policy("acme", "app-db", "bp03devday")
    assert planetscale.rate_limited == 1 and len(planetscale.calls("GET")) == 601


def test_threads_share_one_budget(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock
) -> None:
    limiter = RateLimiter(600, 60.0, clock=clock, sleep=clock.sleep)
    bot = client(planetscale_server[1], limiter)
    failures: list[Exception] = []

    def burst() -> None:
        try:
            for _ in range(200):
                bot.list_policies("acme", "app-db")
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and planetscale.rate_limited == 0
    assert len(planetscale.calls("GET")) == 800


def test_the_bucket_never_lets_more_than_the_budget_through_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, 60.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(3000):
        limiter.acquire()
        sent.append(clock())
    assert sent[limiter.burst - 1] == sent[0]  # the first tenth goes at once
    assert max(sum(1 for t in sent if start <= t < start + 60.0) for start in sent[::50]) <= 600


@pytest.mark.parametrize("text", ["600", "600/fortnight", "-5/min", "0/s", "six/min", "600/"])
def test_a_malformed_rate_names_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="600/min"):
        parse_rate(text)


def test_a_wait_longer_than_the_limiters_bound_is_refused_unsent(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock
) -> None:
    # The leases are sized on worst_case_seconds: a call may not sit in the limiter's line longer than it says.
    # Other threads hold places in the line: their waits are taken but, in this test, time stands still.
    waits: list[float] = []
    limiter = RateLimiter(600, 60.0, max_wait=5.0, clock=clock, sleep=waits.append)
    while not waits or waits[-1] + 1 / limiter.rate <= 5.0:
        limiter.acquire()
    bot = client(planetscale_server[1], limiter)
    with pytest.raises(RateLimited, match=r"budget \(600 requests per 60 s\).*try again"):
        bot.get_policy("acme", "app-db", "bp03devday")
    assert planetscale.calls("GET") == [] and max(waits) <= 5.0
    clock.now += 1.0  # the refused call took no place in the line: a second later, the next one has its turn
    bot.get_policy("acme", "app-db", "bp03devday")
    assert len(planetscale.calls("GET")) == 1 and max(waits) <= 5.0


def test_worst_case_seconds_counts_the_limiters_longest_wait_on_every_attempt(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer]
) -> None:
    server = planetscale_server[1]
    unlimited = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, server.url + "/v1")
    limited = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, server.url + "/v1",
                                limiter=RateLimiter(600, 60.0, max_wait=7.0))
    assert limited.worst_case_seconds() == unlimited.worst_case_seconds() + limited.retry.attempts * 7.0


def test_the_emulator_can_say_when_its_window_admits_the_next_request(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState,
    clock: FakeClock
) -> None:
    """PlanetScale documents no Retry-After; with one (the emulator's option), the client says when to come back."""
    planetscale.rate_limit, planetscale.rate_limit_retry_after = (2, 60.0), True
    bot = client(planetscale_server[1], None)
    bot.get_policy("acme", "app-db", "bp03devday")
    clock.now += 15.0
    bot.get_policy("acme", "app-db", "bp03devday")
    with pytest.raises(RateLimited, match="Try again in 45 seconds"):
        bot.get_policy("acme", "app-db", "bp03devday")
    assert planetscale.rate_limited == 1

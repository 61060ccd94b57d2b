"""PlanetScale's budget shared by three instances on PostgreSQL that started together (a deploy of three
replicas), while another session holds the row (a frozen instance, an operator's lock): each kept to the share of
the count it saw when it first marked itself (the first alone: the whole budget; the second half; the third a
third), 1,077 requests in a minute. Now an instance that finds the row held counts those sharing it again (their
rows are not the one held) before it takes its share. Together they keep to PlanetScale's 600 a minute per
token. Each instance has a time line of its own (a fake clock set to its next turn), so that one's waits do not
space the others' requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from row_locks import held, on_postgresql

from bot.adapters.shared_budget import SharedRateLimiter
from bot.adapters.store import Store

__all__ = ["on_postgresql"]  # a fixture, used by name


class Now:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def three(on_postgresql: str) -> Iterator[list[Store]]:
    stores = [Store(on_postgresql) for _ in range(3)]
    stores[0].migrate()
    yield stores
    for store in stores:
        store.close()


def test_three_instances_started_together_keep_to_600_a_minute_while_the_row_is_held(
        three: list[Store], on_postgresql: str) -> None:
    now = Now()
    limiters = [SharedRateLimiter(store, "token-id", 600, 60.0, clock=now, sleep=lambda _: None)
                for store in three]
    sent: list[float] = []
    for limiter in limiters:  # one after the other: each counts those that marked themselves before it
        limiter.acquire()
    ready = [now.now + 60.0] * 3  # a minute later, the row's bucket full again
    end = ready[0] + 120.0
    with held(on_postgresql, "planetscale_budget", "name", limiters[0].name):
        while min(ready) < end:
            which = ready.index(min(ready))
            now.now = ready[which]
            ready[which] = now.now + limiters[which].acquire()
            sent.append(ready[which])
    sent.sort()
    most = max(sum(1 for t in sent[i:] if t < start + 60.0) for i, start in enumerate(sent))
    assert most <= 600, f"{most} requests in one minute"

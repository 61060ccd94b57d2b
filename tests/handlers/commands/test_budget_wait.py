"""When PlanetScale's budget is the wait, the person is told at once that their request is queued and about how
long, to them alone; then the answer comes as always."""

from __future__ import annotations

from conftest import Bot

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.rate_limit import RateLimiter
from bot.emulators.planetscale_state import PlanetScaleState

QUEUED = "Queued: PlanetScale"


def budget_in_use(bot: Bot, requests_ahead: int) -> RateLimiter:
    """The bot's PlanetScale budget with `requests_ahead` waiting in its line; time stands still meanwhile (the
    waits are recorded, not slept)."""
    now = [1000.0]
    waits: list[float] = []
    limiter = RateLimiter(600, 60.0, clock=lambda: now[0], sleep=waits.append)
    for _ in range(requests_ahead):
        limiter.acquire()
    client = bot.deps.changes.planetscale
    assert isinstance(client, PlanetScaleClient)
    client.limiter = limiter
    return limiter


def test_a_command_that_must_wait_for_the_budget_is_told_at_once_that_it_is_queued(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    limiter = budget_in_use(bot, limiter_burst_and(10.0))
    assert 9.0 < limiter.backlog() < 11.0
    reply = bot.command("show acme/app-db bp01prod12h")
    said = [e.text for e in reply.private]
    # Time stands still here, so the work does not wait on the budget and the notice, told on a thread of its
    # own, races the answer: both are said, in either order.
    assert [t for t in said if QUEUED in t and "about 1" in t], said
    assert [t for t in said if "Production daily" in t], said
    assert not any(QUEUED in e.text for e in reply.public)


def test_a_command_with_the_budget_free_is_answered_without_a_word_of_queueing(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    budget_in_use(bot, 10)
    reply = bot.command("show acme/app-db bp01prod12h")
    assert QUEUED not in reply.all_text() and "Production daily" in reply.all_text()


def limiter_burst_and(seconds: float) -> int:
    """The requests that fill the burst and `seconds` of the budget after it."""
    probe = RateLimiter(600, 60.0)
    return probe.burst + int(seconds * probe.rate)


def test_a_change_applied_at_once_reads_its_policy_once(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.command("update acme/app-db bp01prod12h retention=30d")
    assert len(planetscale.calls("PATCH")) == 1
    reads = [c for c in planetscale.calls("GET") if "/backup-policies" in c.path]
    assert len(reads) == 1

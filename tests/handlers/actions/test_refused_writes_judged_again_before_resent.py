"""The two-person rule around a write PlanetScale refused unread (429) or the bot's own budget held: judged again
before it is sent again, never onto a policy moved to production meanwhile. Through Bolt's pipeline and the
emulators."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot, second_instance, sweep
from conftest import Bot

from bot.adapters.rate_limit import RateLimiter
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


class MovedToProductionWhileWaiting(list[float]):
    """The client's wait after PlanetScale refused the PATCH unread (429): meanwhile someone moves the policy to
    production in PlanetScale's dashboard."""

    def __init__(self, planetscale: PlanetScaleState) -> None:
        super().__init__()
        self.planetscale = planetscale
        self.moving = True

    def append(self, seconds: float) -> None:
        super().append(seconds)
        if self.moving:
            self.planetscale.dashboard_change("acme", "app-db", DEV, target="production")


@pytest.fixture
def sleeps(planetscale: PlanetScaleState) -> list[float]:
    return MovedToProductionWhileWaiting(planetscale)


def test_a_patch_refused_unread_is_not_sent_again_onto_a_policy_moved_to_production_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    """alice asks retention=9d on a development policy from #random, where it needs no approval. PlanetScale
    answers the PATCH 429 (Retry-After: 3), so it certainly did not act on it; while the client waits, the policy
    is moved to production, where a change needs one approval and may only be asked in #db-ops. The PATCH sent
    again lands on that production policy with no approval, judged on a read made before the wait: the judge,
    on the policy as it is when the PATCH leaves, refuses it."""
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert sleeps == [3.0]  # the client waited, and the policy moved meanwhile
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] != 9 and len(planetscale.calls("PATCH")) == 1, (
        f"a PATCH reached a production policy with no approval, asked from #random: {reply.all_text()}")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    # Judged again on a fresh read under its lease before it left: refused there, as at any apply.
    assert request.state is RequestState.FAILED, reply.all_text()
    assert "Not applied" in reply.all_text() and "Nothing was sent" in reply.all_text(), reply.all_text()
    sweep(approvals_bot)  # closed: still nothing sent
    assert len(planetscale.calls("PATCH")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED


def test_a_patch_refused_unread_is_sent_again_when_judged_again_on_one_fresh_read_it_still_applies(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: MovedToProductionWhileWaiting) -> None:
    """The same 429 with nothing moved during the wait: one more GET of the policy, judged again, and the PATCH
    sent again lands. A PATCH that did not wait reads nothing more."""
    sleeps.moving = False

    def reads() -> int:
        return len(planetscale.calls("GET"))

    approvals_bot.command(f"update acme/app-db {DEV} retention=8d", user=ALICE)
    once = reads()
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 8 and not sleeps
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert sleeps == [3.0]
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9, reply.all_text()
    assert len(planetscale.calls("PATCH")) == 3 and reads() - once == once + 1, (once, reads())
    assert {r.state for r in approvals_bot.deps.store.requests(list(RequestState))} == {RequestState.APPLIED}


def test_a_patch_held_by_the_bots_own_budget_is_not_sent_onto_a_policy_moved_to_production_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState, planetscale_client: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's no-approval retention=9d from #random is judged under its lease; its PATCH then waits for a turn
    in the bot's own PlanetScale budget (BACKUP_BOT_PLANETSCALE_RATE, up to 20 s), and meanwhile the policy is
    moved to production in PlanetScale. The PATCH leaves on the judgement made before the wait."""
    waited: list[float] = []

    def wait_while_moved(seconds: float) -> None:
        waited.append(seconds)
        planetscale.dashboard_change("acme", "app-db", DEV, target="production")

    store = approvals_bot.deps.store
    real = store.renew

    def renew(claim: Any, lease_seconds: float, record: Any = None) -> Any:
        if record is not None and record.action == "sending":  # the budget is spent just as the PATCH is to leave
            planetscale_client.limiter = RateLimiter(10, 60, sleep=wait_while_moved)
            planetscale_client.limiter.acquire()
        return real(claim, lease_seconds, record=record)

    monkeypatch.setattr(store, "renew", renew)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert waited and 0 < waited[0] <= 20  # the PATCH waited its turn, and the policy moved meanwhile
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval, asked from #random: {reply.all_text()}")


def test_a_deletion_refused_unread_is_not_sent_again_onto_a_policy_moved_to_production_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    """As a PATCH: alice's deletion of a development policy from #random, answered 429, waits; meanwhile the policy
    is moved to production. Judged again on the policy read after the wait, it is not sent again."""
    planetscale.add_fault(Fault(status=429, method="DELETE", times=1, retry_after="3"))
    reply = approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE)
    assert sleeps == [3.0]
    assert planetscale.policy("acme", "app-db", DEV)["target"] == "production"
    assert len(planetscale.calls("DELETE")) == 1, reply.all_text()
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()

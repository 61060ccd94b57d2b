"""Review rev19m (issue 19): the two-person rule tried as an attacker, through Bolt's pipeline and the emulators."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot, second_instance, sweep
from conftest import Bot

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

    def append(self, seconds: float) -> None:
        super().append(seconds)
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
    assert request.state is RequestState.APPROVED  # given back: judged again on a fresh read before it is sent
    sweep(approvals_bot)  # read under its lease, now production: refused from #random, still nothing sent
    assert len(planetscale.calls("PATCH")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED

"""Issue "One judge, on what was read under the lease": what PlanetScale may have carried out is never sent
again, and what it holds after is what the people are told. Driven through Bolt's pipeline with the emulators."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


class MovedWhileWaiting(list[float]):
    """The client's backoff: while it waits to send again, someone changes the policy in PlanetScale."""

    def __init__(self, planetscale: PlanetScaleState) -> None:
        super().__init__()
        self.planetscale = planetscale

    def append(self, seconds: float) -> None:
        super().append(seconds)
        self.planetscale.dashboard_change("acme", "app-db", DEV, retention_value=30, retention_unit="day")


@pytest.fixture
def sleeps(planetscale: PlanetScaleState) -> list[float]:
    return MovedWhileWaiting(planetscale)


def test_a_patch_whose_answer_is_lost_is_never_sent_again_onto_a_policy_moved_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's PATCH lands but its answer is lost (503); someone sets 30 days in PlanetScale meanwhile. A second
    PATCH would overwrite that with alice's 9 days: it is never sent, and reading back settles the request."""
    planetscale.add_fault(Fault(status=503, method="PATCH", landed=True))
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1, "a PATCH PlanetScale may have carried out was sent again"
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9  # nobody's change overwritten
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED  # settled by reading the policy back, under the lease


def test_a_patch_answered_5xx_that_did_not_land_is_sent_once_and_told_failed_plainly(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=502, method="PATCH", times=None))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED
    assert "PlanetScale does not hold the change, so it was not applied" in reply.all_text()



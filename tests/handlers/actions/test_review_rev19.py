"""Review rev19 of issue "One judge, on what was read under the lease": interleavings that still get past the
judge and the lifecycle, driven through Bolt's pipeline with the emulators. Each is expected to fail until fixed."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot, second_instance
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def moved_to_production_before_the_claim(bot: Bot, planetscale: PlanetScaleState,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone moves the policy to production in PlanetScale's dashboard after the change was asked and read,
    just before the bot claims its lease."""
    store = bot.deps.store
    real = store.claim_for_applying
    moved: list[bool] = []

    def claim(request: Any, from_states: Any, lease_seconds: float) -> Any:
        if not moved:
            moved.append(True)
            planetscale.dashboard_change("acme", "app-db", DEV, target="production")
        return real(request, from_states, lease_seconds)

    monkeypatch.setattr(store, "claim_for_applying", claim)


@pytest.mark.xfail(strict=True, reason="review rev19: a no-approval change reuses the read made when it was "
                                       "asked (ListRead) and misses a move to production made in PlanetScale "
                                       "before its claim: sent to a production policy with no approval")
def test_a_no_approval_change_is_judged_on_the_policy_as_read_under_its_lease_not_as_asked(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice asks retention=9d on a development policy from #random (no approval there). Before the bot claims
    its lease, the policy is moved to production in PlanetScale, where a change needs one approval and may only
    be asked in #db-ops. Read under the lease, the judge would hold it back; nothing may be sent."""
    moved_to_production_before_the_claim(approvals_bot, planetscale, monkeypatch)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert planetscale.policy("acme", "app-db", DEV)["target"] == "production"
    assert not planetscale.calls("PATCH"), f"a PATCH reached a production policy with no approval: {reply.all_text()}"
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED

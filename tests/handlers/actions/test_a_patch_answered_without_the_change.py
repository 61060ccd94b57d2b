"""A PATCH answered 200 with a policy that does not hold what it set (a cache or proxy in front of PlanetScale
answering with the policy as it was, or PlanetScale leaving a field as it was): the answer is the whole policy
after the change (docs/planetscale-api.md), so the change did not land as sent. It is never told or recorded
applied on that answer's word: it is settled by reading the policy back, as any PATCH whose outcome is unknown.
Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

DEV = "bp03devday"  # development: a change applies at once, with no approval


@pytest.mark.parametrize("answer", ["as it was", "half of the change"])
def test_a_patch_answered_with_a_policy_not_holding_it_is_not_told_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState, answer: str) -> None:
    policy = planetscale.policy("acme", "app-db", DEV)  # retention 3 days
    if answer == "half of the change":
        policy["retention_value"] = 9  # the value, not the unit
    planetscale.add_fault(Fault(status=200, method="PATCH", body=json.dumps(policy),
                                headers={"Content-Type": "application/json"}))
    said = approvals_bot.command(f"update acme/app-db {DEV} retention=9w", user=ALICE).all_text()
    assert len(planetscale.calls("PATCH")) == 1, "a PATCH PlanetScale answered was sent again"
    assert planetscale.policy("acme", "app-db", DEV)["retention_unit"] == "day"  # PlanetScale never took it
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, (request.state, said)
    assert "changed the backup policy" not in said, said
    assert "does not hold the change" in said, said
    [applied] = [e for e in approvals_bot.audit.all() if e.action in ("applied", "failed")]
    assert applied.action == "failed", applied

"""A PATCH PlanetScale carries out but answers with a 4xx (a proxy's 409 or 422 after the write, a timeout and then
a 4xx to the retry): the bot took the answer as final, told the person "Not applied" and recorded the request
failed, though the policy held the values asked. Now, as after a 429, it reads the policy again and, when it holds
the values asked, says so and records it applied; one that does not is still told as PlanetScale answered."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from planetscale_spec import SpecJudge

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

DEV = "bp03devday"  # development: a change applies at once, with no approval


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_a_patch_that_landed_under_a_4xx_is_told_and_recorded_as_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState, status: int, planetscale_spec: SpecJudge) -> None:
    planetscale.add_fault(Fault(status=status, method="PATCH", landed=True))
    said = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE).all_text()
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    assert ":white_check_mark:" in said and "Not applied" not in said, said
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED, (request.state, request.detail)
    assert len(planetscale.calls("PATCH")) == 1, "a PATCH PlanetScale carried out was sent again"
    if status == 409:
        planetscale_spec.take()  # a proxy's answer, not PlanetScale's: its spec lists no 409 for a PATCH


def test_a_patch_refused_with_a_4xx_that_did_not_land_is_still_told_as_answered(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=422, method="PATCH"))
    said = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE).all_text()
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] != 9
    assert "Not applied" in said, said
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED

"""A PATCH PlanetScale carries out but answers 429: the bot waits, judges again on the policy read again, and found
it holding exactly the values asked. It told the person "the policy changed in PlanetScale since the request ...
Nothing was sent" and recorded the request failed, though its own PATCH had set them. Now it says the change is as
asked and records it applied."""

from __future__ import annotations

from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_patch_that_landed_under_a_429_is_told_and_recorded_as_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=429, method="PATCH", landed=True, retry_after="0"))
    said = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE).all_text()
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    assert ":white_check_mark:" in said and "Nothing was sent" not in said, said
    assert "changed in PlanetScale since" not in said, said
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED, (request.state, request.detail)
    assert len(planetscale.calls("PATCH")) == 1, "a PATCH PlanetScale carried out was sent again"

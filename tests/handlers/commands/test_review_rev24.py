"""Review rev24 (issue 24): bulk changes, creation and deletion tried as an adversary would. Each test here
shows a defect found by the review and is marked xfail(strict) until it is fixed."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot, request_message, sweep
from conftest import Bot
from test_create_delete import left_applying, revert_value

from bot.domain.change_requests import ChangeKind, RequestState
from bot.domain.policy import planned_policy
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import REVERT

__all__ = ["approvals_bot"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


@pytest.mark.xfail(strict=True, reason="review rev24: a creation settled by reading takes any policy of its name "
                                       "as the one it made, even one that existed when it was judged")
def test_a_lost_creation_is_not_settled_on_a_policy_renamed_to_its_name_elsewhere(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice's creation of "Nightly" was sent and the instance stopped; the POST never landed. Meanwhile someone
    renamed the existing development policy to "Nightly" in the dashboard. The sweep settles the creation by
    reading: it must not adopt a policy that was there before (its ID was in the facts it was judged on), else
    the record says the bot made it, and its Revert deletes a policy the bot never made."""
    values = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
              "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}
    rid = left_applying(approvals_bot, ChangeKind.CREATE, "", planned_policy(values).model_dump(), values)
    planetscale.dashboard_change("acme", "app-db", DEV, name="Nightly")
    sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(rid)
    assert request is not None
    assert request.policy_id != DEV, "the creation is recorded as having made a policy that existed before it"
    assert request.state is RequestState.FAILED

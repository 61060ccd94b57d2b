"""A creation whose POST PlanetScale answered 504 (nothing made) is settled by reading the policies: a policy
made by hand meanwhile under the same name and target, but with other settings, is not the bot's, so the
request stays unconfirmed (checked again, and closed as not applied once its POST can no longer land) and the
hand-made policy is left for the watch to tell. Through Bolt's pipeline,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.planetscale_schedule import iso_time, utc_now

__all__ = ["approvals_bot"]  # fixtures, used by name

CREATE = 'create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00'
VALUES = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
          "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}


@pytest.mark.parametrize("other", [{"retention_value": 1}, {"schedule_time": "05:00"}])
def test_a_policy_of_that_name_made_by_hand_after_a_lost_post_is_not_taken_for_the_bots(
    approvals_bot: Bot, planetscale: PlanetScaleState, other: dict[str, Any]
) -> None:
    """Before: recorded applied ('Applied (confirmed by reading the policies again)') with the hand-made
    policy's ID and values, which nobody asked or approved."""
    planetscale.add_fault(Fault(status=504, method="POST"))
    changes = approvals_bot.deps.changes
    real_list = changes.policies.list_policies
    made: list[dict[str, Any]] = []

    def list_policies(*args: Any, **kwargs: Any) -> Any:
        if planetscale.calls("POST") and not made:  # made by hand once the bot's POST was answered
            made.append(planetscale.add_policy("acme", "app-db", None, **{**VALUES, **other},
                                               created_at=iso_time(utc_now())))
        return real_list(*args, **kwargs)

    changes.policies.list_policies = list_policies  # type: ignore[method-assign]
    try:
        reply = approvals_bot.command(CREATE, user=ALICE)
    finally:
        changes.policies.list_policies = real_list  # type: ignore[method-assign]
    assert len(made) == 1 and len(planetscale.calls("POST")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLYING and request.policy_id != made[0]["id"], request
    assert "does not show it yet" in reply.all_text(), reply.all_text()

"""A creation whose POST's answer was lost is settled by reading the policies: a policy of its name made since in
another target (in the dashboard, by someone else) is not the one its POST made, and is never adopted as the bot's:
its record would say the bot made a production policy, its post would name it, and its Revert would delete it.
Through the sweep, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import approvals_bot, sweep
from conftest import Bot
from test_create_delete import left_applying

from bot.domain.change_requests import ChangeKind, RequestState
from bot.domain.policy import planned_policy
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.planetscale_schedule import iso_time, utc_now

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_lost_creation_is_not_settled_on_a_policy_of_its_name_in_another_target(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    values = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
              "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}
    rid = left_applying(approvals_bot, ChangeKind.CREATE, "", planned_policy(values).model_dump(), values)
    other = planetscale.add_policy("acme", "app-db", None, **{**values, "target": "production"},
                                   created_at=iso_time(utc_now()))
    sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(rid)
    assert request is not None
    assert request.policy_id != other["id"], "the creation is recorded as having made another target's policy"
    assert request.state is RequestState.FAILED

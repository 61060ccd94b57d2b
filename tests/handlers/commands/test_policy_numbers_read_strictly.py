"""A policy's number that is not a JSON integer in PlanetScale's answer (`true`, `"7"`, `7.0`) is not read as one
(`true` as 1 would be a retention of one day): the policy is one the bot cannot read, named in words with its field,
and `list`, `status` and the watch carry on past it with the others."""

from __future__ import annotations

import json
from typing import Any

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.watch import Watcher

ODD = [("retention_value", True), ("retention_value", "7"), ("frequency_value", 7.0), ("schedule_day", False),
       ("required", 1)]


def listed_with(planetscale: PlanetScaleState, field: str, value: Any) -> None:
    """The list of acme/app-db answered with bp03devday's `field` as `value`, the others as they are."""
    with planetscale.lock:
        listed = [dict(p) for p in planetscale.policies[("acme", "app-db")].values()]
    for policy in listed:
        if policy["id"] == "bp03devday":
            policy[field] = value
    planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends="/app-db/backup-policies",
                                body=json.dumps({"type": "list", "current_page": 1, "next_page": None,
                                                 "prev_page": None, "data": listed})))


@pytest.mark.parametrize(("field", "value"), ODD)
def test_list_tells_a_policy_whose_number_is_not_an_integer_as_unreadable(
        bot: Bot, planetscale: PlanetScaleState, field: str, value: Any) -> None:
    listed_with(planetscale, field, value)
    said = bot.command("list acme/app-db").all_text()
    assert "Production daily" in said and "Production weekly" in said, said
    assert "Development daily" not in said, said
    assert "1 more not shown: PlanetScale answered for acme/app-db with a backup policy this bot cannot read " \
           f"(its {field})" in said, said


@pytest.mark.parametrize(("field", "value"), ODD[:2])
def test_the_watch_skips_a_policy_whose_number_is_not_an_integer_and_judges_the_rest(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, field: str, value: Any) -> None:
    _, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=5)
    listed_with(planetscale, field, value)
    result = watcher.run_once()
    assert result is not None
    assert [n.policy_id for n in result.notices] == ["bp01prod12h"], result.notices
    assert any("bp03devday" in s.what and f"its {field}" in s.reason for s in result.skipped), result.skipped

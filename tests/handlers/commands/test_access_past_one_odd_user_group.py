"""One user group Slack lists in a shape the bot cannot read (a disabled group without its `users`, a `users` of
null, a handle of null) made the whole usergroups.list unreadable: every rule naming any group refused everyone
("could not be checked"). Now that group alone cannot be read: rules naming other groups decide as before, and one
naming it still fails closed, saying why."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Bot
from test_access_doors import BOB, DEV, text
from test_access_doors import rules as rules  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState

ODD_GROUPS: dict[str, dict[str, Any]] = {
    "disabled, without its users": {"id": "S0OLD00001", "handle": "old-team", "name": "old-team",
                                    "date_delete": 1700000000},
    "users of null": {"id": "S0ODD00001", "handle": "odd-team", "name": "odd-team", "users": None, "date_delete": 0},
    "a handle of null": {"id": "S0ODD00002", "handle": None, "name": "odd", "users": [], "date_delete": 0},
}


@pytest.mark.parametrize("odd", list(ODD_GROUPS.values()), ids=list(ODD_GROUPS))
def test_one_odd_group_leaves_the_other_groups_deciding(rules: Bot, planetscale: PlanetScaleState,
                                                         odd: dict[str, Any]) -> None:
    with rules.slack.lock:
        rules.slack.usergroups[odd["id"]] = dict(odd)
    reply = rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    assert "could not be checked" not in text(reply), text(reply)
    assert len(planetscale.calls("PATCH")) == 1


def test_a_rule_naming_the_odd_group_fails_closed_saying_why(rules: Bot, planetscale: PlanetScaleState) -> None:
    with rules.slack.lock:
        rules.slack.usergroups["S0ODD00001"] = dict(ODD_GROUPS["users of null"])
    rules.use_rules(RULES_NAMING_ODD)
    reply = rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    assert "could not be checked" in text(reply) and "@odd-team" in text(reply), text(reply)
    assert planetscale.calls("PATCH") == []


RULES_NAMING_ODD = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@odd-team"]
approvers = ["@dba-leads"]
approvals = 0
"""

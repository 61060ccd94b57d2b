"""A user group Slack lists as disabled (`date_delete` set): doctor reads it as gone ("does not exist"), and its
handle is free for another group to take, but the bot still gave its members the rights the rules give the group.
A disabled group's members are nobody's, as doctor says; a live group holding its handle is the one obeyed."""

from __future__ import annotations

import pytest
from conftest import Bot
from test_access_doors import BOB, DEV, RULES, text

from bot.emulators.planetscale_state import PlanetScaleState


@pytest.fixture
def rules(bot: Bot) -> Bot:
    bot.use_rules(RULES)
    return bot


def test_a_disabled_groups_members_may_not_change(rules: Bot, planetscale: PlanetScaleState) -> None:
    rules.slack.usergroups["S0DBATEAM1"]["date_delete"] = 1700000000
    reply = rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    assert planetscale.calls("PATCH") == [], text(reply)
    assert "may not" in text(reply) or "not named" in text(reply), text(reply)


def test_the_live_group_holding_a_disabled_groups_handle_is_obeyed(rules: Bot, planetscale: PlanetScaleState) -> None:
    """The disabled group is listed first, with bob; the live group that took its handle names carol alone."""
    team = rules.slack.usergroups.pop("S0DBATEAM1")
    rules.slack.usergroups["S0OLDTEAM1"] = {**team, "id": "S0OLDTEAM1", "users": [BOB], "date_delete": 1700000000}
    rules.slack.usergroups["S0DBATEAM1"] = {**team, "users": ["U0CAROL001"]}
    reply = rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    assert planetscale.calls("PATCH") == [], text(reply)
    reply = rules.command(f"update acme/app-db {DEV} retention=5d", user="U0CAROL001")
    assert len(planetscale.calls("PATCH")) == 1, text(reply)

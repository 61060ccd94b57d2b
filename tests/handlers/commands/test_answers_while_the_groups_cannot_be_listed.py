"""Through Bolt, on SQLite and PostgreSQL: while Slack cannot list the user groups (and no listing is cached),
every door answers the person, never "Something went wrong", and nothing a group's rule covers is shown, asked
or sent on a guess. Bob is named directly by the development rule; the production rule names only groups."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CHANNEL, Bot
from home_helpers import open_home

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault

BOB = "U0BOB00001"
DEV, PROD = "bp03devday", "bp01prod12h"

RULES = f"""
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 0

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["{BOB}"]
approvers = ["@dba-leads"]
approvals = 0
"""


def text(reply: Any) -> str:
    return str(reply.all_text())


@pytest.fixture
def unlisted(bot: Bot) -> Bot:
    bot.use_rules(RULES)
    bot.slack.add_fault(MethodFault("usergroups.list", error="missing_scope", times=None))
    return bot


def production_touched(planetscale: PlanetScaleState) -> list[str]:
    prod = {i for ps in planetscale.policies.values() for i, p in ps.items() if p["target"] == "production"}
    sent = planetscale.calls("PATCH") + planetscale.calls("DELETE")
    return [c.path for c in sent if c.path.rsplit("/", 1)[-1] in prod]


@pytest.mark.parametrize("selection", ["acme/* *", "acme/app-db *"])
def test_a_bulk_change_answers_and_touches_no_target_it_could_not_check(
    unlisted: Bot, planetscale: PlanetScaleState, selection: str
) -> None:
    shown = text(unlisted.command(f"update {selection} retention=5d", user=BOB, channel=CHANNEL))
    assert "went wrong" not in shown.lower(), shown
    assert production_touched(planetscale) == [], shown
    assert shown.strip(), "no answer"


def patched(planetscale: PlanetScaleState) -> list[str]:
    return [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")]


@pytest.mark.parametrize("command", [
    "update acme/app-db * --where target=development retention=5d",
    "update acme/* * --where target=development retention=5d",
    "update acme/app-db * retention=5d",
    f"update acme/app-db {DEV} retention=5d",
])
def test_a_change_of_what_the_rules_name_them_for_directly_goes_through(
    unlisted: Bot, planetscale: PlanetScaleState, command: str
) -> None:
    # The development rule names bob directly: only production's rule waits on the groups, and it is hidden.
    shown = text(unlisted.command(command, user=BOB, channel=CHANNEL))
    assert DEV in patched(planetscale), shown
    assert production_touched(planetscale) == [], shown


def test_a_creation_on_a_target_named_directly_answers(unlisted: Bot, planetscale: PlanetScaleState) -> None:
    shown = text(unlisted.command('create acme/app-db name="Nightly" target=development retention=7d frequency=1d '
                                  'at=02:00', user=BOB, channel=CHANNEL))
    assert "went wrong" not in shown.lower(), shown
    assert [c.body["target"] for c in planetscale.calls("POST")] in ([], ["development"]), shown


def test_a_creation_on_a_target_that_could_not_be_checked_is_refused(
    unlisted: Bot, planetscale: PlanetScaleState
) -> None:
    shown = text(unlisted.command('create acme/app-db name="Prod" target=production retention=7d frequency=1d '
                                  'at=02:00', user=BOB, channel=CHANNEL))
    assert "went wrong" not in shown.lower(), shown
    assert planetscale.calls("POST") == [], shown
    assert "could not" in shown, shown


def test_a_deletion_of_a_production_policy_is_refused_as_unchecked(
    unlisted: Bot, planetscale: PlanetScaleState
) -> None:
    shown = text(unlisted.command(f"delete acme/app-db {PROD}", user=BOB, channel=CHANNEL))
    assert "went wrong" not in shown.lower(), shown
    assert planetscale.calls("DELETE") == [] and "could not be checked" in shown, shown


def test_a_deletion_of_a_development_policy_goes_through(unlisted: Bot, planetscale: PlanetScaleState) -> None:
    shown = text(unlisted.command(f"delete acme/app-db {DEV}", user=BOB, channel=CHANNEL))
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("DELETE")] == [DEV], shown


def test_help_tells_what_could_be_checked_and_that_the_rest_could_not(unlisted: Bot) -> None:
    shown = text(unlisted.command("help", user=BOB, channel=CHANNEL))
    assert "(development): see, change" in shown, shown
    assert "(production)" not in shown and "could not be checked" in shown, shown


def test_the_home_answers(unlisted: Bot) -> None:
    home = str(open_home(unlisted, BOB))
    assert "went wrong" not in home.lower() and "could not be shown" not in home, home
    assert "(development): see, change" in home and "(production)" not in home, home
    assert "could not be checked" in home, home


def test_showing_a_policy_whose_rule_could_not_be_checked_answers_and_shows_nothing(
    unlisted: Bot
) -> None:
    shown = text(unlisted.command(f"show acme/app-db {PROD}", user=BOB, channel=CHANNEL))
    assert "went wrong" not in shown.lower() and "could not be checked" in shown, shown
    assert "Production daily" not in shown, shown
    assert [e.action for e in unlisted.audit.all()] == ["refused"]  # as every refused read is


@pytest.mark.parametrize("command", ["status acme/app-db", "history acme/app-db", f"history acme/app-db {DEV}"])
def test_the_reads_answer_with_what_could_be_checked(unlisted: Bot, command: str) -> None:
    shown = text(unlisted.command(command, user=BOB, channel=CHANNEL))
    assert "went wrong" not in shown.lower() and "Production daily" not in shown, shown

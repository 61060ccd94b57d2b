"""A bulk change naming "bp03devday" where that is one policy's ID (acme/app-db's "Development daily") and another
policy's name, given in PlanetScale's dashboard (the bot refuses such a name itself): the person may have read
either in a list, so the bulk change acts on neither and says how to name each, to the caller alone, as the one-
policy lookup does (test_a_name_that_is_another_policys_id.py). Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from access_rules import by_target
from approval_helpers import ALICE, BOB, CAROL, approvals_bot
from bulk_helpers import channel_messages
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name


def named_so(planetscale: PlanetScaleState, database: str, name: str = "bp03devday") -> None:
    if database != "app-db":
        planetscale.add_database("acme", database)
    planetscale.add_policy("acme", database, "bpdash", name=name, target="development", retention_value=7,
                           frequency_value=1, frequency_unit="day")


@pytest.mark.parametrize("command", ["update acme/* bp03devday retention=9d",
                                     "update acme/* bp03devday --where target=development retention=9d",
                                     "update acme/*-db bp03devday retention=9d --dry-run"])
@pytest.mark.parametrize("database", ["other-db", "app-db"])
def test_a_bulk_reference_that_is_one_policys_id_and_anothers_name_acts_on_neither(
    approvals_bot: Bot, planetscale: PlanetScaleState, command: str, database: str
) -> None:
    """Development: no approval, so what the bulk change names is changed at once."""
    named_so(planetscale, database)
    reply = approvals_bot.command(command, user=ALICE)
    said = reply.all_text()
    assert planetscale.calls("PATCH") == [], said
    assert channel_messages(approvals_bot) == [], "nothing is posted for the channel to see"
    assert approvals_bot.deps.store.requests(list(RequestState)) == []
    assert "Development daily" in said and "`bpdash`" in said and f"acme/{database}" in said, said
    assert "acme/app-db" in said, said


def test_a_bulk_reference_to_an_id_no_other_policy_is_named_still_names_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_database("acme", "other-db")
    planetscale.add_policy("acme", "other-db", "bpother", name="Development daily", target="development")
    approvals_bot.command("update acme/* bp03devday retention=9d", user=ALICE)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == ["bp03devday"]


def test_a_hidden_policys_id_is_as_if_absent_so_the_policy_named_so_is_the_one_meant(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The ID's policy is one bob may not see (production). He was told “bphid” is “the ID of a policy you may not
    see in acme/other-db”: that a hidden policy holds that ID. It is as if absent to him (as in
    test_a_hidden_policy_by_its_id.py), so his own policy of that name is the one he means."""
    approvals_bot.use_rules(by_target(production=([ALICE], [CAROL], 0), development=([ALICE, BOB], [CAROL], 0)))
    planetscale.add_database("acme", "other-db")
    planetscale.add_policy("acme", "other-db", "bphid", name="Hidden nightly", target="production")
    named_so(planetscale, "app-db", name="bphid")
    reply = approvals_bot.command("update acme/* bphid retention=9d", user=BOB)
    said = reply.all_text() + " ".join(e.text for e in approvals_bot.slack.events)
    assert "Hidden nightly" not in said and "may not see in" not in said, said
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == ["bpdash"], said


def test_the_bulk_form_lists_neither_and_says_how_to_name_each(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    named_so(planetscale, "other-db")
    approvals_bot.command("edit acme/* bp03devday", user=ALICE)
    form = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "Development daily" in form and "`bpdash`" in form, form
    assert "multi_static_select" not in form, form

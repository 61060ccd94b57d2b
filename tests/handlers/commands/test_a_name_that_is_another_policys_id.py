"""A policy named in PlanetScale's dashboard with another policy's ID ("bp03devday"; the bot refuses such a name
itself): a command naming "bp03devday" could mean either, as the person read it in a list, so it acts on neither
and says how to name each. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name


@pytest.mark.parametrize("command", ["delete acme/app-db bp03devday", "update acme/app-db bp03devday retention=9d"])
def test_a_reference_that_is_one_policys_id_and_anothers_name_acts_on_neither(
    approvals_bot: Bot, planetscale: PlanetScaleState, command: str
) -> None:
    """Development: no approval, so what the command names is changed at once."""
    planetscale.add_policy("acme", "app-db", "bpdash", name="bp03devday", target="development", retention_value=7,
                           frequency_value=1, frequency_unit="day")
    reply = approvals_bot.command(command, user=ALICE)
    said = reply.all_text()
    assert planetscale.calls("DELETE") == [] and planetscale.calls("PATCH") == [], said
    assert "`bpdash`" in said and "Development daily" in said, said
    assert approvals_bot.deps.store.requests(list(RequestState)) == []


def test_a_policys_id_no_other_policy_is_named_still_names_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command("update acme/app-db bp03devday retention=9d", user=ALICE)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == ["bp03devday"]

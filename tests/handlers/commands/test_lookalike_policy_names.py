"""A new name that reads as one the database already has (a no-break space, an ideographic or en space, a
full-width letter in place of its plain one) is taken as that name: a creation or a rename into it is refused as
a taken name is, through Bolt's pipeline on SQLite and PostgreSQL. Two policies every message shows alike could
not be told apart by the people who approve changes to them. So is a new name that is another policy's ID: commands
find a policy by its ID first."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot, second_instance
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

LOOKALIKES = {
    "no-break-space": "Development\u00a0daily",
    "en-space": "Development\u2002daily",
    "ideographic-space": "Development\u3000daily",
    "two-spaces": "Development  daily",
}
LOOKALIKES["full-width-letter"] = "\uff24evelopment daily"  # FULLWIDTH LATIN CAPITAL LETTER D


@pytest.mark.parametrize("name", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_a_creation_named_like_an_existing_policy_is_refused_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState, name: str
) -> None:
    reply = approvals_bot.command(f'create acme/app-db name="{name}" target=development retention=7d frequency=1d '
                                  'at=02:00', user=ALICE)
    assert "already has a policy named" in reply.all_text() and "bp03devday" in reply.all_text()
    assert planetscale.calls("POST") == [] and approvals_bot.deps.store.requests(list(RequestState)) == []


def test_a_rename_into_a_name_like_another_policys_is_refused_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = approvals_bot.command('update acme/app-db bp03devday name="Production\u00a0weekly"', user=ALICE)
    assert "already has a policy named" in reply.all_text()
    assert planetscale.calls("PATCH") == []


def test_a_name_that_only_looks_near_is_still_free(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Case is seen: "development daily" reads differently, and is created."""
    approvals_bot.command('create acme/app-db name="development daily" target=development retention=7d '
                          'frequency=1d at=02:00', user=ALICE)
    assert len(planetscale.calls("POST")) == 1


def test_a_creation_named_as_another_policys_id_is_refused_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Commands find a policy by its ID first: a new development policy named "bp03devday" would make
    `delete acme/app-db bp03devday` (no approval in development) delete "Development daily", not it."""
    reply = approvals_bot.command('create acme/app-db name="bp03devday" target=development retention=7d '
                                  'frequency=1d at=02:00', user=ALICE)
    assert "is the ID of another policy of app-db" in reply.all_text()
    assert planetscale.calls("POST") == [] and approvals_bot.deps.store.requests(list(RequestState)) == []


def test_a_rename_into_another_policys_id_is_refused_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = approvals_bot.command('update acme/app-db bp03devday name="bp02prodwk"', user=ALICE)
    assert "is the ID of another policy of app-db" in reply.all_text()
    assert planetscale.calls("PATCH") == []

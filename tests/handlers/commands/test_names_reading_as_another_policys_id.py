"""A new name that reads as another policy's ID (its full-width or mathematical letters, NFKC's compatibility
forms of the ID's) is refused as the ID itself is: a person who reads it in a list types the plain ID, and commands
find a policy by its ID first, so they would act on that other policy. Through Bolt's pipeline, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name

READ_AS_ID = {
    "full-width": "\uff42\uff50\uff10\uff13devday",  # ｂｐ０３devday: reads as bp03devday
    "mathematical-bold": "\U0001d41b\U0001d42903devday",  # 𝐛𝐩03devday
}


@pytest.mark.parametrize("name", READ_AS_ID.values(), ids=READ_AS_ID.keys())
def test_a_creation_named_as_another_policys_id_in_other_letters_is_refused_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState, name: str
) -> None:
    reply = approvals_bot.command(f'create acme/app-db name="{name}" target=development retention=7d '
                                  'frequency=1d at=02:00', user=ALICE)
    assert "is the ID of another policy of app-db" in reply.all_text(), reply.all_text()
    assert planetscale.calls("POST") == [] and approvals_bot.deps.store.requests(list(RequestState)) == []


def test_a_rename_into_another_policys_id_in_full_width_letters_is_refused_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = approvals_bot.command('update acme/app-db bp03devday name="\uff42\uff5002prodwk"', user=ALICE)
    assert "is the ID of another policy of app-db" in reply.all_text(), reply.all_text()
    assert planetscale.calls("PATCH") == []

"""A Revert, Retry, watch Revert or Edit click that names no channel (a click on the App Home, which shows none of
these buttons: an old or forged Home's), through Bolt's real pipeline on SQLite and PostgreSQL. A Revert of a
change whose rule names no channel was asked and applied in channel "" (PlanetScale changed, the audit trail's
channel empty), its post refused by Slack (channel_not_found), the answer sent to a response URL there was none
of: two tracebacks, the person told nothing, the change shown in no channel; an Edit applied the same way. Now
nothing is asked, and the person hears on their Home where the button works."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot  # noqa: F401
from conftest import Bot
from home_helpers import click_on_home, open_home

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import EDIT, REVERT
from handlers.bulk_blocks import BULK_RETRY
from handlers.watch import REVERT_OUTSIDE

DEV = "bp03devday"


def applied_dev_change(bot: Bot) -> str:
    bot.command(f'update acme/app-db {DEV} retention=5d reason="longer"')
    [applied] = bot.deps.store.requests([RequestState.APPLIED])
    return applied.id


@pytest.mark.parametrize(("action", "button"), [(REVERT, "Revert"), (BULK_RETRY, "Retry"),
                                                (REVERT_OUTSIDE, "Revert"), (EDIT, "Edit")])
def test_a_change_button_clicked_on_the_home_asks_nothing_and_says_where_it_works(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, action: str,  # noqa: F811
        button: str) -> None:
    applied = applied_dev_change(approvals_bot)
    value = {REVERT: applied, EDIT: f"acme/app-db/{DEV}"}.get(action, applied)
    patches, entries = len(planetscale.calls("PATCH")), len(approvals_bot.audit.all())
    open_home(approvals_bot, ALICE)
    reply = click_on_home(approvals_bot, ALICE, action, value)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert len(planetscale.calls("PATCH")) == patches
    assert [e.action for e in approvals_bot.audit.all()[entries:]] == []
    assert not reply.of_kind("view_open"), "a form opened that would ask a change in no channel"
    [home] = reply.of_kind("home")
    told = str(home.view)
    assert f"{button} works only on a message in a channel" in told and "nothing was asked" in told, told

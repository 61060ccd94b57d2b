"""A form opens on a loading view and is filled once the bot has read PlanetScale (views.update). When Slack does
not take that update (Slack failing, or the form closed meanwhile), the person is not left before a loading view
that never changes: the bot's direct message says the form was not filled, that nothing changed, and how to open
it again. The edit form, the bulk form and a new policy's preview; through Bolt's pipeline."""

from __future__ import annotations

import pytest
from approval_helpers import direct_messages
from conftest import ALICE, Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault

DEV = "bp03devday"
FAULTS = [MethodFault("views.update", status=500, times=None),
          MethodFault("views.update", error="internal_error", times=None)]


@pytest.mark.parametrize("slack_fault", FAULTS)
def test_an_edit_form_slack_did_not_fill_is_told_by_direct_message(
        bot: Bot, planetscale: PlanetScaleState, slack_fault: MethodFault) -> None:
    bot.slack.add_fault(slack_fault)
    bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    assert bot.executor.wait_idle(30)
    told = "\n".join(direct_messages(bot, ALICE))
    assert "Slack did not fill the form" in told and f"`/backup-policy edit acme/app-db {DEV}`" in told, told
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("slack_fault", FAULTS)
def test_a_bulk_form_slack_did_not_fill_is_told_by_direct_message(
        bot: Bot, planetscale: PlanetScaleState, slack_fault: MethodFault) -> None:
    bot.slack.add_fault(slack_fault)
    bot.command('edit acme/app-db "Production *"', user=ALICE)
    assert bot.executor.wait_idle(30)
    told = "\n".join(direct_messages(bot, ALICE))
    assert "Slack did not fill the form" in told and "`/backup-policy edit acme/app-db" in told, told
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("slack_fault", FAULTS)
def test_a_new_policys_preview_slack_did_not_show_is_told_by_direct_message(
        bot: Bot, planetscale: PlanetScaleState, slack_fault: MethodFault) -> None:
    bot.command("create acme/app-db", user=ALICE)
    form = bot.current_view()
    bot.slack.add_fault(slack_fault)
    bot.submit(form, {"name": "Nightly", "retention_value": "14"}, user=ALICE)
    assert bot.executor.wait_idle(30)
    told = "\n".join(direct_messages(bot, ALICE))
    assert "Slack did not fill the form" in told and "`/backup-policy create acme/app-db`" in told, told
    assert planetscale.calls("POST") == []

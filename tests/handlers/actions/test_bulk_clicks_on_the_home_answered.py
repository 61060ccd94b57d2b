"""A click on a bulk change's buttons on the App Home is answered there, as a request's is: a Home click brings no
response URL, so an answer said only through one reaches nobody. Found by review rev19; through Bolt's pipeline
and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, request_message
from bulk_helpers import button
from conftest import Bot
from home_helpers import click_on_home, open_home

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

# Production asks two approvals, and carol is no longer among its approvers.
WITHOUT_CAROL = RULES.format(approvals=2).replace('approvers = ["@dba-leads"]\napprovals',
                                                  'approvers = ["U0LEAD0002"]\napprovals')


def home_text(bot: Bot, user: str) -> str:
    return json.dumps(bot.slack.homes[user]["blocks"], ensure_ascii=False)


def asked_over_two_databases(bot: Bot, planetscale: PlanetScaleState) -> str:
    for name in ("pay-01", "pay-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.use_rules(RULES.format(approvals=2))
    bot.command('update acme/pay-* "Production daily" retention=14d', user=ALICE)
    return button(request_message(bot), BULK_APPROVE)


def test_a_bulk_approval_counted_from_the_home_is_told_there(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    batch_id = asked_over_two_databases(approvals_bot, planetscale)
    open_home(approvals_bot, CAROL)
    click_on_home(approvals_bot, CAROL, BULK_APPROVE, batch_id)
    assert approvals_bot.executor.wait_idle(60)
    assert "Approved:" in home_text(approvals_bot, CAROL), home_text(approvals_bot, CAROL)[:600]


def test_a_bulk_approval_refused_from_the_home_is_told_there(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol's Home offers alice's bulk change; the access file drops her as an approver before she clicks
    Approve there. She is refused, and must hear why where she clicked."""
    batch_id = asked_over_two_databases(approvals_bot, planetscale)
    open_home(approvals_bot, CAROL)
    approvals_bot.use_rules(WITHOUT_CAROL)
    click_on_home(approvals_bot, CAROL, BULK_APPROVE, batch_id)
    assert approvals_bot.executor.wait_idle(60)
    assert planetscale.calls("PATCH") == []
    assert "You may not approve" in home_text(approvals_bot, CAROL), home_text(approvals_bot, CAROL)[:600]

"""An applied change's cost (the backups kept at once, before → after) is counted on the policy as it was when its
PATCH left, not as it was asked: a setting the change does not send (the frequency) changed in PlanetScale between
the ask and the approval is counted as it is. Before, a policy backed up daily when applied was posted as keeping
"4 → 28" backups (its asked 12-hour frequency) beside "now every day, kept 14 days": 2 → 14. For a bulk change's
line and a single change's message, through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import CAROL, RULES, approvals_bot, latest_view, request_id, request_message
from conftest import Bot
from test_bulk import add_databases, button, channel_messages, policy, shown

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]


def _line(view: str, database: str) -> str:
    return next(line for line in view.split("\\n") if f"`{database}`" in line)


def test_a_bulk_line_counts_the_backups_kept_on_the_frequency_it_was_applied_at(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1))
    dbs = add_databases(planetscale, "freq", 2)
    assert policy(planetscale, dbs[0])["frequency_value"] == 12  # every 12 hours, kept 2 days: 4 at once
    approvals_bot.command('update acme/freq-* "Production daily" retention=14d')
    policy(planetscale, dbs[0]).update(frequency_value=1, frequency_unit="day")  # in PlanetScale's dashboard
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    view = shown(approvals_bot, message)
    moved, kept = _line(view, dbs[0]), _line(view, dbs[1])
    assert "now every day" in moved and "kept 2 → 14" in moved, moved
    assert "kept 4 → 28" in kept, kept


def test_a_single_change_is_posted_with_the_backups_kept_on_the_frequency_it_was_applied_at(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1))
    [db] = add_databases(planetscale, "one", 1)
    approvals_bot.command(f'update acme/{db} "Production daily" retention=14d')
    message = request_message(approvals_bot)
    policy(planetscale, db).update(frequency_value=1, frequency_unit="day")
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert policy(planetscale, db)["retention_value"] == 14
    view = latest_view(approvals_bot, message)
    assert "every day" in view and "*Kept at once:* 2 backups → 14 backups" in view, view

"""A bulk change's policy that changed since the request is told so once, and by whom where the bot knows it: by
the bot's other change (its audit trail holds the PATCH that put the values there), else in PlanetScale. Through
Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, PROD, approvals_bot, request_id
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_bulk import add_databases, shown

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


def line_of(bot: Bot, message: object, database: str) -> str:
    return next(line for line in shown(bot, message).split("\\n") if f"`{database}`" in line)  # type: ignore[arg-type]


def test_a_policy_changed_in_the_dashboard_is_told_so_once(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    dbs = add_databases(planetscale, "dash", 2)
    approvals_bot.command('update acme/dash-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", retention_value=5)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    line = line_of(approvals_bot, message, dbs[1])
    assert line.count("since the request") == 1 and "changed in PlanetScale since the request" in line, line
    assert "retention_value is now 5" in line and "bot's" not in line, line


def test_a_policy_changed_by_the_bots_other_bulk_change_is_told_so(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Two bulk changes asked over the same policies: the first approved and applied, the second, approved
    after, finds them changed by the first, and says so rather than blaming PlanetScale."""
    dbs = add_databases(planetscale, "twice", 2)
    approvals_bot.command('update acme/twice-* "Production daily" retention=14d', user=ALICE)
    approvals_bot.command('update acme/twice-* "Production daily" retention=21d', user=ALICE)
    first, second = channel_messages(approvals_bot)
    first_id = button(first, BULK_APPROVE)
    approvals_bot.click(BULK_APPROVE, first_id, user=CAROL, message=first)
    approvals_bot.click(BULK_APPROVE, button(second, BULK_APPROVE), user=CAROL, message=second)
    assert planetscale.policies[("acme", dbs[0])][f"{dbs[0]}-prod"]["retention_value"] == 14
    for db in dbs:
        line = line_of(approvals_bot, second, db)
        assert line.count("since the request") == 1, line
        assert "in PlanetScale" not in line and "the bot's bulk change" in line and f"`{first_id[:8]}`" in line, line
        assert "retention_value is now 14" in line, line


def test_a_policy_the_bot_changed_and_the_dashboard_changed_after_is_told_changed_in_planetscale(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "both", 1)
    approvals_bot.command('update acme/both-* "Production daily" retention=14d', user=ALICE)
    approvals_bot.command('update acme/both-* "Production daily" retention=21d', user=ALICE)
    first, second = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(first, BULK_APPROVE), user=CAROL, message=first)
    planetscale.dashboard_change("acme", dbs[0], f"{dbs[0]}-prod", frequency_value=6)
    approvals_bot.click(BULK_APPROVE, button(second, BULK_APPROVE), user=CAROL, message=second)
    line = line_of(approvals_bot, second, dbs[0])
    assert "changed in PlanetScale since the request" in line and "bot's" not in line, line


def test_a_request_alone_changed_by_the_bots_other_request_is_told_so(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    approvals_bot.command(f"update acme/app-db {PROD} retention=6d", user=ALICE)
    first, second = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                     and e.channel in approvals_bot.slack.channels]
    approvals_bot.click(APPROVE, request_id(first), user=CAROL, message=first)
    reply = approvals_bot.click(APPROVE, request_id(second), user=CAROL, message=second)
    said = reply.all_text()
    assert f"changed by the bot's change `{request_id(first)[:8]}` since the request" in said, said
    assert "in PlanetScale since" not in said, said


def test_a_policy_the_change_no_longer_holds_on_is_told_so_once(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Its line read "not applied, the change no longer holds on it: the change no longer holds against the policy
    as it is now: …": the bulk words, then the judge's reason saying the same. Said once, the reason kept."""
    dbs = add_databases(planetscale, "holds", 2)
    approvals_bot.command('update acme/holds-* "Production daily" retention=1d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", frequency_value=3, frequency_unit="day")
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    line = line_of(approvals_bot, message, dbs[1])
    assert line.count("no longer holds") == 1 and "not applied" in line, line
    assert "kept 1 day but taken every 3 days" in line and "Nothing was sent" in line, line
    assert "applied" in line_of(approvals_bot, message, dbs[0])

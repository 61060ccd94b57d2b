"""A bulk change's policy that waits on PlanetScale (its backups unreadable, a 500, when it is applied), through
Bolt's pipeline on SQLite and PostgreSQL: the line tells what happens next in words true of a bulk policy (the
bot tries again at its next sweep, then the Retry button), never "approve again" (it has no Approve button of
its own), and the bot stops trying after a bounded time, well before the request's life ends, closing it as
failed with Retry offered; the others stand applied. And a policy renamed in PlanetScale between the ask and
the apply is named in the outcome as it is now."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import CAROL, RULES, approvals_bot, second_instance, sweep
from backup_reads import closed_past, moved_clock
from conftest import Bot
from test_bulk import add_databases, button, channel_messages, policy, shown

from bot.domain.lifecycle import BULK_WAIT_SECONDS
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name


def _line(view: str, database: str) -> str:
    return next(line for line in view.split("\\n") if f"`{database}`" in line)


def test_a_bulk_policy_waiting_on_planetscale_is_told_what_happens_next_and_tried_for_a_bounded_time(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    now = moved_clock(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7TB"))
    dbs = add_databases(planetscale, "slow", 3)
    approvals_bot.command('update acme/slow-* "Production daily" retention=14d')
    planetscale.add_fault(Fault(status=500, method="GET", path_contains=f"/databases/{dbs[1]}/branches",
                                times=None))
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    for _ in range(3):  # its next sweeps: the policy is read, its backups are not
        now[0] += 120
        sweep(approvals_bot)
        line = _line(shown(approvals_bot, message), dbs[1])
        assert "approve again" not in line.lower(), line
        assert "next sweep" in line and "Retry" in line, line
        assert ":x:" not in line and ":white_check_mark:" not in line, line
    closed_past(approvals_bot, now, BULK_WAIT_SECONDS)  # past the bound, long before the request's 24 hours
    view = shown(approvals_bot, message)
    line = _line(view, dbs[1])
    assert ":x: not applied" in line and "(500)" in line, line
    assert "Retry" in line, line
    assert "Applied to 2 of 3" in view and BULK_RETRY in view, view
    assert policy(planetscale, dbs[1])["retention_value"] == 2
    assert policy(planetscale, dbs[0])["retention_value"] == 14 and policy(planetscale, dbs[2])["retention_value"] == 14


def test_a_policy_renamed_between_ask_and_apply_is_named_as_it_is_now(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1))
    dbs = add_databases(planetscale, "renamed", 2)
    approvals_bot.command('update acme/renamed-* "Production daily" retention=14d')
    policy(planetscale, dbs[0])["name"] = "Production nightly"
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    view = shown(approvals_bot, message)
    assert policy(planetscale, dbs[0])["retention_value"] == 14, view
    line = _line(view, dbs[0])
    assert "Production nightly" in line, line
    assert "“Production daily” when asked" in line, line
    assert _line(view, dbs[1]).count("Production daily") == 1, view

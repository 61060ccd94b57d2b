"""Bulk changes tried as an adversary would (review rev24t): a dry run then the real run with the policies changed
in between, a bulk change whose policies are partly deleted before approval, and an approval after its expiry.
Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot
from backup_reads import moved_clock
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_bulk import add_databases, patched, policy, shown

from bot.domain.batches import BatchState
from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_the_real_run_after_a_dry_run_asks_on_the_policies_as_they_are_then(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "dry", 2)
    approvals_bot.command('update acme/dry-* "Production daily" retention=14d --dry-run', user=ALICE)
    assert channel_messages(approvals_bot) == [] and patched(planetscale) == []
    planetscale.dashboard_delete("acme", dbs[0], f"{dbs[0]}-prod")
    planetscale.add_database("acme", "dry-03")
    planetscale.add_policy("acme", "dry-03", "dry-03-prod", name="Production daily", target="production")
    planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", retention_value=5)
    approvals_bot.command('update acme/dry-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    said = shown(approvals_bot, message)
    assert f"`{dbs[0]}`" not in said and "`dry-03`" in said and "~5 days~" in said, said
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert sorted(p.rsplit("/", 1)[-1] for p in patched(planetscale)) == [f"{dbs[1]}-prod", "dry-03-prod"]


def test_policies_deleted_before_approval_are_told_gone_and_the_rest_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "gone", 3)
    approvals_bot.command('update acme/gone-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.dashboard_delete("acme", dbs[1], f"{dbs[1]}-prod")
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert sorted(p.rsplit("/", 1)[-1] for p in patched(planetscale)) == [f"{dbs[0]}-prod", f"{dbs[2]}-prod"]
    assert policy(planetscale, dbs[0])["retention_value"] == 14
    line = next(x for x in shown(approvals_bot, message).split("\\n") if f"• `{dbs[1]}`" in x)
    assert "not applied" in line and "PlanetScale" in line, line


def test_an_approval_after_expiry_sends_nothing(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    now = moved_clock(approvals_bot)
    add_databases(planetscale, "late", 2)
    approvals_bot.command('update acme/late-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    now[0] += 25 * 3600
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert patched(planetscale) == [], reply.all_text()
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None and batch.state is BatchState.EXPIRED, batch
    assert "xpired" in reply.all_text() + shown(approvals_bot, message)

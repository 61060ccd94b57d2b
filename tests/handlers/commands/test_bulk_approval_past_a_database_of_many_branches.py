"""A bulk change whose one database grew past the branches a storage estimate reads, between its asking and its
approval: that policy's estimate cannot be made, and it must not hold back the others."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import CAROL, RULES, approvals_bot, request_message, sweep
from conftest import Bot
from test_bulk import button, shown

from bot.domain.backup_health import MAX_BRANCHES_ESTIMATED
from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]


def test_one_database_grown_past_the_estimated_branches_does_not_hold_the_others(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Asked over mb-01 and mb-02 (one production branch each) under a storage bound; before the approval mb-02
    gets more production branches than an estimate reads. Every Approve answered 'Nothing was sent … click Approve
    again in a moment' and the sweep waited too: mb-01, judged fine, never applied."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "500GB"))
    for name in ("mb-01", "mb-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
        planetscale.add_backup("acme", name, f"{name}-prod", hours_ago=3, size=1_000_000_000)
    approvals_bot.command('update acme/mb-* "Production daily" retention=14d')
    message = request_message(approvals_bot)
    for i in range(MAX_BRANCHES_ESTIMATED):
        planetscale.add_branch("acme", "mb-02", f"main-{i}", production=True)
    replies = [approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
               for _ in range(2)]
    sweep(approvals_bot)
    said = "\n".join(r.all_text() for r in replies)
    assert [c.path.split("/")[4] for c in planetscale.calls("PATCH")] == ["mb-01"], (said, shown(approvals_bot,
                                                                                                 message))
    assert planetscale.policies[("acme", "mb-01")]["mb-01-prod"]["retention_value"] == 14
    assert planetscale.policies[("acme", "mb-02")]["mb-02-prod"]["retention_value"] == 2
    assert "click Approve again in a moment" not in said, said
    assert f"at most {MAX_BRANCHES_ESTIMATED}" in shown(approvals_bot, message), shown(approvals_bot, message)


def test_a_target_past_the_estimated_branches_is_told_as_not_read(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Low, wording: its backups were never asked for, not 'could not be read'."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "500GB"))
    planetscale.add_database("acme", "mb-03")
    planetscale.add_policy("acme", "mb-03", "mb-03-prod", name="Production daily", target="production")
    for i in range(MAX_BRANCHES_ESTIMATED):
        planetscale.add_branch("acme", "mb-03", f"main-{i}", production=True)
    said = approvals_bot.command('update acme/mb-* "Production daily" retention=14d --dry-run').all_text()
    assert "backups were not read" in said and "could not be read" not in said, said

"""A bulk preview's estimate from each branch's backups read once per database, and storage bounds added after a
failed read not holding approvals back forever."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import ALICE, CAROL, RULES, approvals_bot, latest_view, request_id, sweep
from backup_reads import one_asked_unreadable, st_asked_unreadable
from conftest import Bot
from test_bulk import button, shown

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]

DEV_BOUND = storage_bound("development", "500GB")


def test_a_policy_whose_own_success_is_past_a_cut_branch_list_is_estimated_on_it_not_on_another_policys(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A branch holds more successes than one list gives (5,000): the one of a policy with none lately (100 GB)
    is older than the hourly policy's 5,000. A change to it alone is estimated on its own; the same change
    asked in bulk must be too, not on the hourly policy's 1 GB (which passes the 500 GB bound it is refused by)."""
    approvals_bot.use_rules(RULES.format(approvals=0) + DEV_BOUND)
    planetscale.add_database("acme", "cut")
    planetscale.add_policy("acme", "cut", "old", name="Dev old", target="development", frequency_value=1,
                           frequency_unit="day", retention_value=2, retention_unit="day")
    planetscale.add_policy("acme", "cut", "hourly", name="Dev hourly", target="development", frequency_value=1,
                           frequency_unit="hour", retention_value=2, retention_unit="day")
    planetscale.add_backup("acme", "cut", "old", hours_ago=24 * 300, size=100_000_000_000)
    for i in range(5000):
        planetscale.add_backup("acme", "cut", "hourly", hours_ago=(5000 - i) * 0.1, size=1_000_000_000)
    alone = approvals_bot.command('update acme/cut "Dev old" retention=10d --dry-run', user=ALICE).all_text()
    refused = "about 1.0 TB kept (10 backups of 100.0 GB), at most 500.0 GB allowed"
    assert refused in alone, alone
    bulk = approvals_bot.command("update acme/cut * retention=10d --dry-run", user=ALICE).all_text()
    assert "*Dev old*: retention ~2 days~ → *10 days* (kept 2 → 10, about 2.0 GB" not in bulk, bulk
    assert f"*Dev old*: refused by a guardrail: the guardrails refuse this change: guardrail 1 (line 21): {refused}" \
        in bulk, bulk


PROD_BOUND = storage_bound("production", "500GB")


def test_a_storage_bound_added_after_one_databases_backups_failed_to_read_does_not_hold_the_others_forever(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Asked with no storage bound, one database's backups could not be read (its estimate unknown); a bound is
    added before the approval. Approving again and again must not be refused every time on that preview's failed
    read, which nothing ever reads again: each policy is judged on its backups as they are, under its lease."""
    message, fault = st_asked_unreadable(approvals_bot, planetscale, unreadable="/databases/st-02/branches/")
    planetscale.faults.remove(fault)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    for _ in range(2):
        approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert sorted(c.path.split("/")[4] for c in planetscale.calls("PATCH")) == ["st-01", "st-02"], \
        shown(approvals_bot, message)
    assert planetscale.policies[("acme", "st-02")]["st-02-prod"]["retention_value"] == 14


def test_a_storage_bound_added_after_a_single_requests_failed_read_does_not_refuse_its_approval_forever(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The same as one request: asked while its backups could not be read and no bound covered it, approved
    after a bound was added and the backups read again."""
    message, fault = one_asked_unreadable(approvals_bot, planetscale)
    planetscale.faults.remove(fault)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    for _ in range(2):
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    sweep(approvals_bot)
    assert planetscale.policies[("acme", "one")]["one-prod"]["retention_value"] == 14, latest_view(
        approvals_bot, message)

"""A storage estimate sums the latest successful backup of every branch a policy backs up. The bot reads at most
MAX_BRANCHES_READ branches of a target: past them, a sum of some branches is no estimate, and a `max_storage`
bound judged on it would pass what the whole breaks. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from bulk_helpers import channel_messages
from conftest import Bot

from bot.domain.backup_health import MAX_BRANCHES_READ
from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]

GB = 1_000_000_000
# A development policy kept 2 days, daily: 2 backups at once; 10 GB a branch.
DEV_DAILY = {"name": "Dev daily", "target": "development", "frequency_value": 1, "frequency_unit": "day",
             "retention_value": 2, "retention_unit": "day"}


def database_with_branches(planetscale: PlanetScaleState, database: str, development_branches: int) -> None:
    """`database` with one development policy backing up `development_branches` branches, 10 GB each."""
    planetscale.add_database("acme", database)
    planetscale.add_policy("acme", database, f"{database}-dev", **DEV_DAILY)
    names = ["dev"] + [f"dev{n}" for n in range(2, development_branches + 1)]
    for name in names[1:]:
        planetscale.add_branch("acme", database, name, production=False)
    for name in names:
        planetscale.add_backup("acme", database, f"{database}-dev", hours_ago=2, size=10 * GB, branch=name)


def test_a_retention_past_max_storage_on_more_branches_than_the_bot_reads_is_not_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Twelve development branches of 10 GB: five backups kept are 600 GB, past a 550 GB bound. Summed over the
    first ten only (500 GB) the change passed the bound and was sent at once."""
    branches = MAX_BRANCHES_READ + 2
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "550GB"))
    database_with_branches(planetscale, "many", branches)
    said = approvals_bot.command('update acme/many "Dev daily" retention=5d', user=ALICE).all_text()
    assert planetscale.calls("PATCH") == [], said
    assert "500.0 GB" not in said, said  # never a sum of some branches told as the estimate
    assert f"acme/many has {branches} development branches" in said, said


def test_a_bulk_change_past_max_storage_on_more_branches_than_the_bot_reads_leaves_that_policy_out(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The same in bulk: the policy of the database with twelve branches is left out saying why; the one with two
    branches (5 × 20 GB, within the bound) is applied."""
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "550GB"))
    database_with_branches(planetscale, "wide-a", MAX_BRANCHES_READ + 2)
    database_with_branches(planetscale, "wide-b", 2)
    approvals_bot.command('update acme/wide-* "Dev daily" retention=5d', user=ALICE)
    said = json.dumps([m.blocks for m in channel_messages(approvals_bot)], ensure_ascii=False) + json.dumps(
        [e.blocks for e in approvals_bot.slack.events if e.thread_ts], ensure_ascii=False)
    assert [c.path.split("/")[4] for c in planetscale.calls("PATCH")] == ["wide-b"], said
    assert f"acme/wide-a has {MAX_BRANCHES_READ + 2} development branches" in said, said


def test_status_and_a_preview_do_not_tell_a_sum_of_some_branches_as_the_estimate(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Without a bound: a dry run's estimate and `status` are not the first ten branches' 200 GB → 500 GB told as
    'from the latest successful backup of each branch'."""
    database_with_branches(planetscale, "many", MAX_BRANCHES_READ + 2)
    preview = approvals_bot.command('update acme/many "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    assert "200.0 GB" not in preview and "500.0 GB" not in preview, preview
    assert "development branches" in preview, preview
    status = approvals_bot.command("status acme/many", user=ALICE).all_text()
    assert "200.0 GB" not in status, status
    assert "development branches" in status, status

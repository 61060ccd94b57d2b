"""A storage estimate sums the latest successful backup of every branch a policy backs up. The watch's health reads
at most MAX_BRANCHES_READ branches of a target; an estimate (a change's, a bulk change's, a preview's, `status`'s)
reads every one up to MAX_BRANCHES_ESTIMATED, and past that there is no estimate: a sum of some branches would
pass a `max_storage` bound the whole breaks. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from bulk_helpers import channel_messages
from conftest import Bot

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.rate_limit import RateLimiter
from bot.domain.backup_health import MAX_BRANCHES_ESTIMATED, MAX_BRANCHES_READ
from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]

GB = 1_000_000_000
# A development policy kept 2 days, daily: 2 backups at once; 10 GB a branch. Kept 5 days: 5 backups, 50 GB a branch.
DEV_DAILY = {"name": "Dev daily", "target": "development", "frequency_value": 1, "frequency_unit": "day",
             "retention_value": 2, "retention_unit": "day"}


def database_with_branches(planetscale: PlanetScaleState, database: str, development_branches: int) -> None:
    """`database` with one development policy backing up `development_branches` branches, 10 GB each."""
    planetscale.add_database("acme", database)
    planetscale.add_policy("acme", database, f"{database}-dev", **DEV_DAILY)
    names = ["dev"] + [f"dev{n}" for n in range(2, development_branches + 1)]
    with planetscale.lock:
        for name in names[1:]:
            planetscale.add_branch("acme", database, name, production=False)
        for name in names:
            planetscale.add_backup("acme", database, f"{database}-dev", hours_ago=2, size=10 * GB, branch=name)


def backup_reads(planetscale: PlanetScaleState) -> int:
    return sum(1 for c in planetscale.calls("GET") if c.path.endswith("/backups"))


def said_in_bulk(bot: Bot) -> str:
    return json.dumps([m.blocks for m in channel_messages(bot)], ensure_ascii=False) + json.dumps(
        [e.blocks for e in bot.slack.events if e.thread_ts], ensure_ascii=False)


# Branches, the bound a retention of 5 days breaks (5 × 10 GB a branch), and one it keeps within.
WIDE = [(12, "550GB", "650GB", "600.0 GB"), (40, "1.9TB", "2.1TB", "2.0 TB")]


@pytest.mark.parametrize(("branches", "broken", "kept", "told"), WIDE)
def test_a_change_on_more_branches_than_the_health_reads_is_judged_on_every_branch(
    approvals_bot: Bot, planetscale: PlanetScaleState, branches: int, broken: str, kept: str, told: str
) -> None:
    """Above the bound it is refused with the whole sum, below it applied; each branch's backups read once a
    change. Before, past ten branches there was no estimate and the change was refused either way."""
    assert branches > MAX_BRANCHES_READ
    database_with_branches(planetscale, "many", branches)
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", broken))
    before = backup_reads(planetscale)
    said = approvals_bot.command('update acme/many "Dev daily" retention=5d', user=ALICE).all_text()
    assert planetscale.calls("PATCH") == [], said
    assert f"about {told} kept" in said and "guardrails refuse" in said, said
    assert backup_reads(planetscale) - before == branches  # the latest success of each branch, once
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", kept))
    said = approvals_bot.command('update acme/many "Dev daily" retention=5d', user=ALICE).all_text()
    assert len(planetscale.calls("PATCH")) == 1, said
    assert planetscale.rate_limited == 0


def test_an_estimate_of_many_branches_goes_at_the_budgets_pace_and_collects_no_429(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A budget of 30 requests a minute, kept by PlanetScale (the emulator, on the same clock) and by the bot: the
    forty branches' reads of a change under a bound wait their turn (time is moved, not slept) rather than going
    over it, and the change is judged on all of them."""
    now = [1000.0]
    planetscale.clock, planetscale.rate_limit = (lambda: now[0]), (30, 60.0)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    client = approvals_bot.deps.changes.planetscale
    assert isinstance(client, PlanetScaleClient)
    client.limiter = RateLimiter(30, 60.0, clock=lambda: now[0], sleep=sleep)
    database_with_branches(planetscale, "many", 40)
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "2.1TB"))
    said = approvals_bot.command('update acme/many "Dev daily" retention=5d', user=ALICE).all_text()
    assert len(planetscale.calls("PATCH")) == 1, said
    assert planetscale.rate_limited == 0
    assert now[0] - 1000.0 > 60  # over forty requests at under 30 a minute: more than a minute of waiting


def test_a_bulk_change_judges_each_wide_database_on_every_branch(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Forty branches (2 TB kept) break a 1 TB bound and are left out saying so; twelve (600 GB) are applied."""
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "1TB"))
    database_with_branches(planetscale, "wide-a", 40)
    database_with_branches(planetscale, "wide-b", 12)
    approvals_bot.command('update acme/wide-* "Dev daily" retention=5d', user=ALICE)
    said = said_in_bulk(approvals_bot)
    assert [c.path.split("/")[4] for c in planetscale.calls("PATCH")] == ["wide-b"], said
    assert "2.0 TB" in said and "600.0 GB" in said, said


def test_a_preview_and_status_estimate_every_branch(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Forty branches: 2 backups of 400 GB (800 GB) → 5 (2 TB). `status` reads the health of the first ten and
    the estimate of all forty, each branch's successes once."""
    database_with_branches(planetscale, "many", 40)
    preview = approvals_bot.command('update acme/many "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    assert "800.0 GB" in preview and "2.0 TB" in preview, preview
    before = backup_reads(planetscale)
    status = approvals_bot.command("status acme/many", user=ALICE).all_text()
    assert "about 800.0 GB" in status, status
    assert "30 more development branches were not read for its health" in status, status
    assert "its estimate counts every branch" in status, status
    assert backup_reads(planetscale) - before == MAX_BRANCHES_READ + 40


def test_status_of_a_policy_with_none_of_its_own_on_wide_target_is_estimated_from_the_target(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A second development policy that never ran: estimated from the forty branches' latest successes."""
    database_with_branches(planetscale, "many", 40)
    planetscale.add_policy("acme", "many", "many-new", **{**DEV_DAILY, "name": "New daily"})
    status = approvals_bot.command("status acme/many", user=ALICE).all_text()
    assert status.count("about 800.0 GB") == 2, status
    assert "from its target's latest successful backups" in status, status


def test_a_retention_past_max_storage_on_more_branches_than_an_estimate_reads_is_not_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Past MAX_BRANCHES_ESTIMATED branches there is no estimate, never a sum of some: a bound cannot tell."""
    branches = MAX_BRANCHES_ESTIMATED + 1
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "100TB"))
    database_with_branches(planetscale, "many", branches)
    said = approvals_bot.command('update acme/many "Dev daily" retention=5d', user=ALICE).all_text()
    assert planetscale.calls("PATCH") == [], said
    assert f"acme/many has {branches} development branches" in said, said
    assert f"at most {MAX_BRANCHES_ESTIMATED}" in said, said


def test_a_bulk_change_past_max_storage_on_more_branches_than_an_estimate_reads_leaves_that_policy_out(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "100TB"))
    database_with_branches(planetscale, "wide-a", MAX_BRANCHES_ESTIMATED + 1)
    database_with_branches(planetscale, "wide-b", 2)
    approvals_bot.command('update acme/wide-* "Dev daily" retention=5d', user=ALICE)
    said = said_in_bulk(approvals_bot)
    assert [c.path.split("/")[4] for c in planetscale.calls("PATCH")] == ["wide-b"], said
    assert f"acme/wide-a has {MAX_BRANCHES_ESTIMATED + 1} development branches" in said, said


def test_status_and_a_preview_past_the_bound_do_not_tell_a_sum_of_some_branches(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    database_with_branches(planetscale, "many", MAX_BRANCHES_ESTIMATED + 1)
    before = backup_reads(planetscale)
    preview = approvals_bot.command('update acme/many "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    assert " GB" not in preview.split("branches", 1)[-1] and "TB" not in preview, preview
    assert f"{MAX_BRANCHES_ESTIMATED + 1} development branches" in preview, preview
    status = approvals_bot.command("status acme/many", user=ALICE).all_text()
    assert "storage not estimated" in status and "development branches, and the bot" in status, status
    # Past the bound no backup is read for an estimate: the health's ten alone.
    assert backup_reads(planetscale) - before == MAX_BRANCHES_READ


def planetscale_calls(planetscale: PlanetScaleState, since: int) -> Counter[str]:
    """PlanetScale's calls since `since`, by method and what they read (the path's last word that is no ID)."""
    kinds = ("backups", "branches", "backup-policies", "databases")
    return Counter(f"{c.method} {next(p for p in reversed(c.path.split('/')) if p in kinds)}"
                   for c in planetscale.calls()[since:])


def test_a_small_database_costs_the_calls_it_did(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Two development branches: a change, a preview, `status` and a bulk change read what they read before the
    estimate read past ten branches (the figures held before and after it)."""
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "1TB"))
    database_with_branches(planetscale, "small", 2)
    database_with_branches(planetscale, "small-b", 2)
    counts = {}
    for name, text in (("change", 'update acme/small "Dev daily" retention=5d'),
                       ("preview", 'update acme/small "Dev daily" retention=6d --dry-run'),
                       ("status", "status acme/small"),
                       ("bulk", 'update acme/small* "Dev daily" retention=7d')):
        since = len(planetscale.calls())
        approvals_bot.command(text, user=ALICE)
        counts[name] = planetscale_calls(planetscale, since)
    policies, backups, branches, patch = "GET backup-policies", "GET backups", "GET branches", "PATCH backup-policies"
    assert counts == {"change": Counter({policies: 2, backups: 2, branches: 1, patch: 1}),
                      "preview": Counter({policies: 1, backups: 2, branches: 1}),
                      "status": Counter({policies: 1, backups: 2, branches: 1}),
                      "bulk": Counter({policies: 4, backups: 8, branches: 4, patch: 2, "GET databases": 1})}, counts

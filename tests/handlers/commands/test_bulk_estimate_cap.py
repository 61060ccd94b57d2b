"""A bulk change's estimates read at most MAX_BULK_ESTIMATE_READS backup lists in all, per step (its asking, one
approval): past them a policy's storage is not estimated, its line saying why, and a `max_storage` bound on its
target refuses it as it cannot tell, while the others are still asked and applied. What the README says of it, seen
through Bolt's pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot
from test_storage_estimate_branches import database_with_branches

from bot.domain.backup_health import MAX_BRANCHES_ESTIMATED
from bot.domain.bulk_costs import MAX_BULK_ESTIMATE_READS
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

SPENT = (f"this bulk change's estimates read at most {MAX_BULK_ESTIMATE_READS} backup lists in all, to keep within "
         "PlanetScale's request budget: ask for fewer databases at once")
# Databases of MAX_BRANCHES_ESTIMATED development branches each: one backup list a branch, so the last is past the cap.
DATABASES = MAX_BULK_ESTIMATE_READS // MAX_BRANCHES_ESTIMATED + 1


def wide(planetscale: PlanetScaleState) -> None:
    for n in range(1, DATABASES + 1):
        database_with_branches(planetscale, f"wide-{n}", MAX_BRANCHES_ESTIMATED)


def test_past_the_cap_a_policys_line_says_its_storage_is_not_estimated_and_why(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    wide(planetscale)
    said = approvals_bot.command('update acme/wide-* "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    assert f"`wide-{DATABASES}` *Dev daily*: retention ~2 days~ → *5 days* (kept 2 → 5, storage not estimated: its " \
           f"backups were not read ({SPENT}))" in said, said
    assert "about 2.0 TB → 5.0 TB" in said, said  # wide-1: every branch estimated
    reads = sum(1 for c in planetscale.calls("GET") if c.path.endswith("/backups"))
    assert reads == MAX_BULK_ESTIMATE_READS, reads


def test_past_the_cap_a_storage_bound_leaves_that_policy_out_saying_why(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Under a `max_storage` bound the policy with no estimate cannot be judged: it is among those the change may
    not change, with the reason; the others are still asked."""
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "100TB"))
    wide(planetscale)
    said = approvals_bot.command('update acme/wide-* "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    assert "*Not in this change (1):*" in said, said
    assert (f"`wide-{DATABASES}` *Dev daily*: could not be judged: the policy's backups were not read to estimate "
            f"its storage ({SPENT})") in said, said
    assert planetscale.calls("PATCH") == []

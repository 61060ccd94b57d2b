"""A bulk change's estimates: every policy's storage before → after, read with requests that grow with its
databases' branches, not with its policies (bot/domain/bulk_costs.py)."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot

from bot.emulators.planetscale import Fault, PlanetScaleState

__all__ = ["approvals_bot"]

DEV_BOUND = storage_bound("development", "500GB")


def seed(planetscale: PlanetScaleState, databases: int, policies: int) -> None:
    """`databases` databases of `policies` development policies each; each but the last has backed up (1 GB
    more per policy), the last never has."""
    for d in range(1, databases + 1):
        planetscale.add_database("acme", f"cost-{d:02d}")
        for p in range(1, policies + 1):
            planetscale.add_policy("acme", f"cost-{d:02d}", f"c{d}-{p}", name=f"Dev {p}", target="development",
                                   frequency_value=1, frequency_unit="day", retention_value=2, retention_unit="day")
            if p < policies:
                planetscale.add_backup("acme", f"cost-{d:02d}", f"c{d}-{p}", hours_ago=p, size=p * 1_000_000_000)


def reads(planetscale: PlanetScaleState, what: str) -> int:
    return len([c for c in planetscale.calls("GET") if c.path.endswith(what)])


def test_a_bulk_preview_reads_each_databases_backups_once_whatever_its_number_of_policies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """3 databases of 5 policies, one of each never backed up: per database one branch list, one list of its
    branch's recent successes and one of its whole history (for the policy with none of its own), where a storage
    bound made it read per policy (a branch list and 1-3 backup lists each)."""
    approvals_bot.use_rules(RULES.format(approvals=0) + DEV_BOUND)
    seed(planetscale, databases=3, policies=5)
    reply = approvals_bot.command("update acme/cost-* * retention=10d --dry-run", user=ALICE)
    said = reply.all_text()
    assert reads(planetscale, "/branches") == 3 and reads(planetscale, "/backups") == 6, planetscale.calls("GET")
    # Each policy's own latest success, kept 2 → 10; the one that never ran, on its target's latest (Dev 1's).
    for d in (1, 2, 3):
        for p, size in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 1)):
            assert (f"`cost-0{d}` *Dev {p}*: retention ~2 days~ → *10 days* (kept 2 → 10, about {2 * size}.0 GB → "
                    f"{10 * size}.0 GB, PlanetScale's estimated storage cost {0.046 * size:.2f} → "
                    f"{0.23 * size:.2f})") in said, said
    assert "Dry run" in said and planetscale.calls("PATCH") == []


def test_a_bulk_preview_reads_a_branchs_older_backups_once_for_the_policies_with_none_lately(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A weekly policy's latest success is twelve days old, past the recent read: the branch's whole history is read
    once more, and it is that success the estimate is on, not another policy's."""
    seed(planetscale, databases=1, policies=2)
    planetscale.add_policy("acme", "cost-01", "weekly", name="Dev weekly", target="development",
                           frequency_value=1, frequency_unit="week", retention_value=2, retention_unit="week",
                           schedule_day=0)
    planetscale.add_backup("acme", "cost-01", "weekly", hours_ago=12 * 24, size=9_000_000_000)
    reply = approvals_bot.command("update acme/cost-01 * retention=4w --dry-run", user=ALICE)
    said = reply.all_text()
    assert "18.0 GB → 36.0 GB" in said, said
    assert reads(planetscale, "/backups") == 2, planetscale.calls("GET")


def test_a_bulk_preview_whose_backups_cannot_be_read_says_why_and_still_asks(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """One database's backups fail to read: its estimates are unknown, saying why; it and the others are still
    asked, and the failed read is not tried again for each of its policies."""
    seed(planetscale, databases=2, policies=3)
    planetscale.add_fault(Fault(status=500, method="GET", path_contains="/databases/cost-02/branches/", times=None))
    reply = approvals_bot.command("update acme/cost-* * retention=10d --dry-run", user=ALICE)
    said = reply.all_text()
    assert ("`cost-02` *Dev 1*: retention ~2 days~ → *10 days* (kept 2 → 10, storage not estimated: its backups "
            "could not be read (") in said, said
    assert ("`cost-01` *Dev 1*: retention ~2 days~ → *10 days* (kept 2 → 10, about 2.0 GB → 10.0 GB, PlanetScale's "
            "estimated storage cost 0.05 → 0.23)") in said, said
    assert "`cost-02` *Dev 3*" in said and "may not change" not in said, said
    failed = [(c.path, tuple(sorted(c.query.items()))) for c in planetscale.calls("GET")
              if c.path.startswith("/organizations/acme/databases/cost-02/branches/")]
    assert len(set(failed)) == 1 and len(failed) <= 4, failed  # one read and its retries, not one per policy

"""A bulk change's storage estimates read each branch's backups once, and in all at most half a minute of
PlanetScale's 600 requests a minute, however many databases and branches it names: past that its policies' storage
is not estimated, saying why (under a `max_storage` bound they are left out as unchecked), never a sum of some
branches. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import ALICE, CAROL, RULES, approvals_bot
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_storage_estimate_branches import backup_reads, database_with_branches, said_in_bulk

from bot.domain.batches import SkipReason
from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

MOST_READS = 300  # half a minute of PlanetScale's 600 requests a minute
BRANCHES = 100  # each database's development branches: as many as one estimate reads
# Development changes need one approval (the last rule of RULES, development's, asks it) under a storage bound.
BOUNDED = RULES.format(approvals=1) + "approvals = 1\n" + storage_bound("development", "100TB")


def wide_databases(planetscale: PlanetScaleState, count: int) -> list[str]:
    names = [f"wide-{n:02d}" for n in range(1, count + 1)]
    for name in names:
        database_with_branches(planetscale, name, BRANCHES)
    return names


def test_a_preview_over_many_wide_databases_reads_at_most_its_share_and_says_what_it_did_not_estimate(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = wide_databases(planetscale, 4)
    before = backup_reads(planetscale)
    said = approvals_bot.command('update acme/wide-* "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    assert backup_reads(planetscale) - before <= MOST_READS, said
    lines = {db: [line for line in said.split("\\n") if f"`{db}`" in line] for db in dbs}
    for db in dbs[:3]:  # 100 branches: 2 backups of 10 GB → 5, on each
        assert lines[db] and all("2.0 TB → 5.0 TB" in line for line in lines[db]), lines[db]
    assert lines[dbs[3]] and all("storage not estimated" in line and "at most 300 backup lists" in line
                                 for line in lines[dbs[3]]), lines[dbs[3]]


def test_under_a_storage_bound_the_policies_past_the_share_are_left_out_as_unchecked_and_the_rest_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(BOUNDED)
    dbs = wide_databases(planetscale, 4)
    before = backup_reads(planetscale)
    approvals_bot.command('update acme/wide-* "Dev daily" retention=5d', user=ALICE)
    assert backup_reads(planetscale) - before <= MOST_READS
    [message] = channel_messages(approvals_bot)
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None
    assert [p.database for p in batch.planned] == dbs[:3]
    assert [(s.database, s.why) for s in batch.skipped] == [(dbs[3], SkipReason.UNCHECKED)]
    assert "at most 300 backup lists" in said_in_bulk(approvals_bot)
    before = backup_reads(planetscale)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    # The approval's estimate (its share), then each policy's own under its lease (one change's: every branch).
    assert backup_reads(planetscale) - before <= MOST_READS + 3 * BRANCHES
    assert sorted(c.path.split("/")[4] for c in planetscale.calls("PATCH")) == dbs[:3]


def test_an_approval_whose_databases_grew_past_the_share_applies_each_on_its_own_read(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Asked within the share (4 databases of 70 branches); by the approval each has 30 more: the approval's
    estimate cannot read them all, so each policy is judged on its own read under its lease, and none waits for a
    click that would find the same."""
    approvals_bot.use_rules(BOUNDED)
    dbs = [f"wide-{n:02d}" for n in range(1, 5)]
    for db in dbs:
        database_with_branches(planetscale, db, 70)
    approvals_bot.command('update acme/wide-* "Dev daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    with planetscale.lock:
        for db in dbs:
            for n in range(30):
                planetscale.add_branch("acme", db, f"grown{n}", production=False)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert sorted(c.path.split("/")[4] for c in planetscale.calls("PATCH")) == dbs

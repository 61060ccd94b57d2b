"""A request whose stored read failed, approved while its backups still could not be read, left to the sweep."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import CAROL, RULES, approvals_bot, latest_view, request_id
from backup_reads import moved_clock, one_asked_unreadable, st_asked_unreadable, swept_once_readable
from conftest import Bot
from test_bulk import button

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]

PROD_BOUND = storage_bound("production", "500GB")


def test_the_sweep_applies_a_request_whose_backups_are_readable_again_after_its_approval_could_not_tell(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Asked while its backups could not be read, no bound covering it; a bound added; approved while they still
    could not be read (the approver is told the bot judges it again shortly). Once they can be read, the sweep
    must apply it: it is not refused forever on the read recorded when it was asked."""
    now = moved_clock(approvals_bot)
    message, fault = one_asked_unreadable(approvals_bot, planetscale)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert approvals_bot.deps.store.approvers_of(request_id(message)) == [CAROL]
    swept_once_readable(approvals_bot, planetscale, fault, now)
    assert planetscale.policies[("acme", "one")]["one-prod"]["retention_value"] == 14, latest_view(
        approvals_bot, message)


def test_a_bulk_approval_reads_again_each_policys_failed_backups_once_not_twice(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A bulk change asked while one database's backups could not be read, approved under a storage bound added
    since: each such policy's backups are read again to judge the click, and under its lease when applied, not a
    third time to count its approvers (PlanetScale's request budget is shared by every policy of the change)."""
    message, fault = st_asked_unreadable(approvals_bot, planetscale)
    planetscale.faults.remove(fault)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    before = len(planetscale.calls("GET"))
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert planetscale.policies[("acme", "st-02")]["st-02-prod"]["retention_value"] == 14
    reads = [c.path for c in planetscale.calls("GET")[before:] if c.path.endswith("/databases/st-02/branches")]
    assert len(reads) == 2, reads

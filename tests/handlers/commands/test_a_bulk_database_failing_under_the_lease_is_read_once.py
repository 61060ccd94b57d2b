"""A bulk change of many policies of one database, approved as that database's policy list starts answering 500
(after the approval's own reads). Each policy read the list again under its lease with the client's four tries and
their waits, one after another: forty policies, 160 failed reads and minutes of the approver's click. Now the first
policy whose read fails for a moment leaves the others of its database, unread, for the sweep's next turn, which
applies them once PlanetScale answers. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, CAROL, approvals_bot, swept_later
from bulk_helpers import button, channel_messages, latest
from conftest import Bot

from bot.domain.change_requests import ChangeRequest
from bot.domain.outcomes import Outcome
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

COUNT = 40
LIST = "/databases/big/backup-policies"


def test_policies_of_a_database_whose_read_fails_under_the_lease_are_left_to_the_sweep_after_the_first(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    bot = approvals_bot
    planetscale.add_database("acme", "big")
    planetscale.add_database("acme", "small")
    for n in range(COUNT):
        planetscale.add_policy("acme", "big", f"big-{n:02d}", name=f"Prod {n:02d}", target="production")
    planetscale.add_policy("acme", "small", "small-00", name="Prod 00", target="production")
    bot.command('update acme/* "Prod *" retention=14d', user=ALICE)
    [message] = channel_messages(bot)
    changes = bot.deps.changes
    apply_approved = changes.apply_approved

    def failing_first(member: ChangeRequest, by: str) -> Outcome:
        if not planetscale.faults:  # after the approval's reads, before the first policy's under its lease
            planetscale.add_fault(Fault(status=500, method="GET", path_ends=LIST, times=None))
        return apply_approved(member, by)

    changes.apply_approved = failing_first  # type: ignore[method-assign]
    try:
        sleeps.clear()
        bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    finally:
        changes.apply_approved = apply_approved  # type: ignore[method-assign]
    reads = [c for c in planetscale.calls("GET") if c.path.endswith(LIST)]
    assert len(reads) <= 8, f"{len(reads)} reads of a list answering 500"
    assert sum(sleeps) <= 10, f"the click waited {sum(sleeps):.1f} s"
    assert planetscale.policies[("acme", "small")]["small-00"]["retention_value"] == 14, "the other database waited"
    view = json.dumps(latest(bot, message).blocks, ensure_ascii=False)
    assert f"{COUNT} still in progress" in view, view[:2000]
    planetscale.faults.clear()
    swept_later(bot, 120)
    held = [p["retention_value"] for p in planetscale.policies[("acme", "big")].values()]
    assert held.count(14) == COUNT, held
    view = json.dumps(latest(bot, message).blocks, ensure_ascii=False)
    assert f"Applied to {COUNT + 1} of {COUNT + 1}" in view, view[:2000]


def test_a_sweep_reads_a_database_failing_for_a_moment_once_for_its_waiting_policies(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    """The same forty left approved for the sweep while the list still answers 500: a sweep's turn reads it once
    for them (the next turn tries again), not once per policy with its waits, which held every sweep step behind
    them on each pass for the hour they are tried."""
    bot = approvals_bot
    planetscale.add_database("acme", "big")
    for n in range(COUNT):
        planetscale.add_policy("acme", "big", f"big-{n:02d}", name=f"Prod {n:02d}", target="production")
    bot.command('update acme/big "Prod *" retention=14d', user=ALICE)
    [message] = channel_messages(bot)
    planetscale.add_fault(Fault(status=500, method="GET", path_ends=LIST, times=None))
    bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    before = len([c for c in planetscale.calls("GET") if c.path.endswith(LIST)])
    sleeps.clear()
    swept_later(bot, 120)
    reads = len([c for c in planetscale.calls("GET") if c.path.endswith(LIST)]) - before
    assert reads <= 8, f"{reads} reads of a list answering 500 in one sweep"
    assert sum(sleeps) <= 10, f"the sweep waited {sum(sleeps):.1f} s"
    planetscale.faults.clear()
    swept_later(bot, 240)
    held = [p["retention_value"] for p in planetscale.policies[("acme", "big")].values()]
    assert held.count(14) == COUNT, held

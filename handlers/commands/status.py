"""`/backup-policy status <db>`: whether each policy the caller may see actually produces backups. Read in the
background after the ack, like `list`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.domain.backup_health import MAX_POLICIES_READ, MAX_STATUS_REQUESTS, read_health, with_target_estimates
from bot.domain.bulk_costs import with_every_branch
from bot.domain.commands import StatusCommand
from bot.domain.ports import PartlyUnreadable, PlanetScaleError, requests_capped
from bot.domain.request_budget import BranchesListedOnce
from handlers import blocks
from handlers.commands.caller import Caller, may_read, read_failed, readable_targets

if TYPE_CHECKING:
    from handlers.dependencies import Dependencies


def run_status(deps: Dependencies, parsed: StatusCommand, caller: Caller) -> None:
    if not may_read(deps, parsed.db, caller):
        return
    visible = readable_targets(deps, parsed.db, caller)
    unreadable, why = 0, ""
    try:
        with requests_capped(MAX_STATUS_REQUESTS):
            try:
                policies = deps.policies.list_policies(parsed.db)
            except PartlyUnreadable as exc:  # one odd policy hides no other's health; counted, never named
                policies, unreadable, why = list(exc.readable), len(exc.unreadable), exc.user_message
            seen = [p for p in policies if p.target in visible]
            asked = seen[:MAX_POLICIES_READ]
            planetscale = BranchesListedOnce(deps.policies.planetscale)
            healths = read_health(planetscale, parsed.db, asked, deps.stale_factor)
            # The health reads the first MAX_BRANCHES_READ branches; the estimate, every one (MAX_BRANCHES_ESTIMATED).
            healths = with_every_branch(planetscale, parsed.db, healths)
            healths = with_target_estimates(planetscale, parsed.db, healths)
    except PlanetScaleError as exc:
        read_failed(deps, parsed.db, caller, "StatusCommand", exc)
        return
    caller.say(f"Backup status of {parsed.db}",
               blocks.status_blocks(parsed.db, healths, not_read=len(seen[MAX_POLICIES_READ:]),
                                   unreadable=unreadable, why=why, spent=len(asked) - len(healths)))

"""Reading backup health from PlanetScale: each policy's backups on the branches of its target, every page."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from bot.domain.backups import Backup, PolicyHealth, branches_for, judge_health, now_utc
from bot.domain.commands import DatabaseRef
from bot.domain.policy import BackupPolicy
from bot.domain.ports import PlanetScaleApi, PlanetScaleError

# Branches whose backups are read per policy, production ones first: a database with a hundred development
# branches would otherwise spend a whole pass's budget (and a minute of a person's wait) on one policy.
MAX_BRANCHES_READ = 10


def read_health(planetscale: PlanetScaleApi, db: DatabaseRef, policies: list[BackupPolicy],
                stale_factor: float, now: datetime | None = None,
                targets: Collection[str] | None = None) -> list[PolicyHealth]:
    """The health of each policy whose target is in `targets` (all when not given). The branches are listed once;
    a branch whose backups cannot be read is named in its policy's health; when none can be read, the first
    failure is raised."""
    moment = now or now_utc()
    shown = [p for p in policies if targets is None or p.target in targets]
    if not shown:
        return []
    branches = sorted(planetscale.list_branches(db.organization, db.database), key=lambda b: not b.production)
    found = []
    failures: list[PlanetScaleError] = []
    reads = 0
    for policy in shown:
        backups: list[Backup] = []
        by_branch: dict[str, list[Backup]] = {}
        unread: list[str] = []
        every = [b.name for b in branches_for(policy, branches)]
        names, left_out = every[:MAX_BRANCHES_READ], every[MAX_BRANCHES_READ:]
        for name in names:
            reads += 1
            try:
                by_branch[name] = planetscale.list_backups(db.organization, db.database, name, policy.id)
            except PlanetScaleError as exc:
                failures.append(exc)
                unread.append(name)
            else:
                backups += by_branch[name]
        found.append(judge_health(policy, names, backups, moment, stale_factor, unread, by_branch, left_out))
    if failures and len(failures) == reads:
        raise failures[0]  # nothing could be read: say why rather than show every policy as unknown
    return found

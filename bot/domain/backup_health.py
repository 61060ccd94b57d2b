"""Reading backup health from PlanetScale: each policy's backups on the branches of its target, every page."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from bot.domain.backups import Backup, PolicyHealth, branches_for, judge_health, now_utc
from bot.domain.grammar import DatabaseRef
from bot.domain.policy import BackupPolicy
from bot.domain.ports import PlanetScaleApi, PlanetScaleError


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
    branches = planetscale.list_branches(db.organization, db.database)
    found = []
    failures: list[PlanetScaleError] = []
    reads = 0
    for policy in shown:
        backups: list[Backup] = []
        unread: list[str] = []
        names = [b.name for b in branches_for(policy, branches)]
        for name in names:
            reads += 1
            try:
                backups += planetscale.list_backups(db.organization, db.database, name, policy.id)
            except PlanetScaleError as exc:
                failures.append(exc)
                unread.append(name)
        found.append(judge_health(policy, names, backups, moment, stale_factor, unread))
    if failures and len(failures) == reads:
        raise failures[0]  # nothing could be read: say why rather than show every policy as unknown
    return found

"""What the watch skipped, and what reads of a database's backups left out, kept between reads (and restarts): a pass
in which no policy's backups are due still says it, as a database skipped is said at each pass, so the audit channel
hears it once for as long as it stays true."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from bot.domain.commands import DatabaseRef


@dataclass(frozen=True)
class Skipped:
    """A database or a policy a pass could not judge, and why; the pass carried on past it."""

    what: str  # "acme/app-db" or "acme/app-db policy bp01"
    reason: str


# For a database, what the last read of its branches left out (under None), and for each policy what the last read
# of its backups left out: kept in the store between reads (WatchProgressStore.backup_skips).
BackupSkips = dict[str | None, list[Skipped]]


class SkipsStore(Protocol):
    def save_backup_skips(self, holder: str, organization: str, database: str, kept: BackupSkips) -> bool: ...


def after_read(store: SkipsStore, holder: str, db: DatabaseRef, stored: BackupSkips, found: BackupSkips,
               listed: Collection[str]) -> list[Skipped]:
    """All the database's after this pass: `found` replaces what was kept (`stored`, read at the pass's start)
    for the branches (None) and for each policy read now; a policy no longer `listed` goes with its own. Written
    back only when it changes."""
    kept = {**stored, **found}
    for key in [k for k, items in kept.items() if not items or (k is not None and k not in listed)]:
        del kept[key]
    if kept != stored:
        store.save_backup_skips(holder, db.organization, db.database, kept)
    return [item for items in kept.values() for item in items]

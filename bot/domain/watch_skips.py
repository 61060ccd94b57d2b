"""What the watch skipped, and what reads of a database's backups left out, kept between reads: a pass in which no
policy's backups are due still says it, as a database skipped is said at each pass, so the audit channel hears it
once for as long as it stays true."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class Skipped:
    """A database or a policy a pass could not judge, and why; the pass carried on past it."""

    what: str  # "acme/app-db" or "acme/app-db policy bp01"
    reason: str


class BackupSkips:
    """For each database, what the last read of its branches left out (under None), and for each policy what the
    last read of its backups left out."""

    def __init__(self) -> None:
        self._kept: dict[str, dict[str | None, list[Skipped]]] = {}

    def after_read(self, db: str, found: dict[str | None, list[Skipped]], listed: Collection[str]) -> list[Skipped]:
        """All the database's after this pass: `found` replaces what was kept for the branches (None) and for each
        policy read now; a policy no longer `listed` goes with its own."""
        kept = self._kept.setdefault(db, {})
        kept.update(found)
        for key in [k for k in kept if k is not None and k not in listed]:
            del kept[key]
        return [item for items in kept.values() for item in items]

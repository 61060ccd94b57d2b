"""Where the watch is in its cycle over the databases, and when each policy's backups are to be read again: in
the database, so that a pass resumes where the last stopped, on whichever instance holds the watch next.

Every write is conditional on the writer holding the watch lease, as the watch's other writes are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import TYPE_CHECKING

from bot.adapters.store import Store
from bot.adapters.store.rows import NUMBER_DAMAGED, TIME_DAMAGED, Damaged, damaged, decoded, seen_key
from bot.adapters.store.watch import WATCH_LEASE
from bot.domain.backups import CLOCK_MARGIN_SECONDS
from bot.domain.watch_share import LONGEST_UNREAD, BackupMark
from bot.domain.watch_skips import BackupSkips, Skipped

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CURSOR = "watch"
SKIPS_DAMAGED = "JSON that does not decode into what the watch's reads left out"
# No mark is written further ahead than this (watch_share.next_mark): one that is names a time no clock reaches.
FARTHEST_MARK_SECONDS = LONGEST_UNREAD.total_seconds() + CLOCK_MARGIN_SECONDS


class WatchProgress:
    def __init__(self, store: Store):
        self.store = store

    def _holds(self, conn: Connection, holder: str) -> bool:
        import sqlalchemy as sa

        from bot.adapters.schema import watch_lease

        until = conn.scalar(sa.select(watch_lease.c.until).where(watch_lease.c.name == WATCH_LEASE,
                                                                 watch_lease.c.holder == holder).with_for_update())
        return until is not None and until >= self.store.clock()

    def cursor(self) -> tuple[str | None, float | None]:
        """The last database read in the current cycle (None at its start), and when that cycle started."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_cursor

        with self.store.reader.connect() as conn:
            row = conn.execute(sa.select(watch_cursor.c.position, watch_cursor.c.cycle_started_at)
                               .where(watch_cursor.c.name == CURSOR)).first()
        if row is None:
            return None, None
        position, started = row
        readable = isinstance(started, int | float) and not isinstance(started, bool)
        if not (readable and isinstance(position, str | None)):
            # SQLite keeps any text in a number's column: a cursor that cannot be read starts a new cycle, which
            # writes it afresh, rather than failing every pass as it is written back.
            damaged(self.store.damaged, "watch cursor", CURSOR, NUMBER_DAMAGED)
            return None, None
        return position, float(started)

    def advance(self, holder: str, position: str | None, cycle_started_at: float) -> bool:
        """The cycle has read up to `position` (None: a new cycle begins); False when the lease is not `holder`'s."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_cursor

        now = self.store.clock()
        values = {"position": position, "cycle_started_at": cycle_started_at, "updated_at": now}
        with self.store.engine.begin() as conn:
            if not self._holds(conn, holder):
                return False
            moved = conn.execute(watch_cursor.update().where(watch_cursor.c.name == CURSOR).values(**values)).rowcount
            if not moved:
                try:
                    with conn.begin_nested():
                        conn.execute(watch_cursor.insert().values(name=CURSOR, **values))
                except sa.exc.IntegrityError:  # pragma: no cover - only the lease holder writes
                    return False
        return True

    def backup_marks(self, organization: str, database: str) -> dict[str, BackupMark]:
        import sqlalchemy as sa

        from bot.adapters.schema import watch_backup_reads as t

        with self.store.reader.connect() as conn:
            rows = conn.execute(sa.select(t.c.policy_key, t.c.policy_id, t.c.last_ran_at, t.c.updated_at, t.c.due_at)
                                .where(t.c.organization == organization, t.c.database == database)).all()
        marks = {}
        farthest = self.store.clock() + FARTHEST_MARK_SECONDS
        for key, policy_id, last_ran_at, updated_at, due_at in rows:
            # SQLite keeps any text in a number's column: a mark that cannot be read is none, so the policy's
            # backups are read now and the mark written afresh, and the database's other policies stay judged. So
            # is one due at a time no clock reaches (NaN, Infinity, years ahead): its backups would be read again
            # only once the policy ran, and a policy that stopped running would never be told stale.
            if isinstance(due_at, int | float) and not isinstance(due_at, bool) and isinstance(updated_at, str) \
                    and isinstance(last_ran_at, str | None) and math.isfinite(due_at) and due_at <= farthest:
                marks[policy_id] = BackupMark(last_ran_at, updated_at, float(due_at))
            else:
                damaged(self.store.damaged, "backup mark of the watch", key, TIME_DAMAGED)
        return marks

    def save_backup_marks(self, holder: str, organization: str, database: str,
                          marks: dict[str, BackupMark]) -> bool:
        """The marks of the policies whose backups were just read, all or none; False when the lease is lost."""
        from bot.adapters.schema import watch_backup_reads as t

        if not marks:
            return True
        with self.store.engine.begin() as conn:
            if not self._holds(conn, holder):
                return False
            for policy_id, mark in marks.items():
                key = seen_key(organization, database, policy_id)
                values = {"last_ran_at": mark.last_ran_at, "updated_at": mark.updated_at, "due_at": mark.due_at}
                if not conn.execute(t.update().where(t.c.policy_key == key).values(**values)).rowcount:
                    conn.execute(t.insert().values(policy_key=key, organization=organization, database=database,
                                                   policy_id=policy_id, **values))
        return True

    def backup_skips(self, databases: Collection[tuple[str, str]]) -> dict[tuple[str, str], BackupSkips]:
        """What the last reads of each database's backups left out, by policy (None: its branches), in one read for
        a whole pass; none for a database whose row cannot be read (SQLite keeps any text), so the next read says
        it afresh."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_backup_skips as t

        wanted = {seen_key(org, database, ""): (org, database) for org, database in databases}
        if not wanted:
            return {}
        with self.store.reader.connect() as conn:
            rows = conn.execute(sa.select(t.c.database_key, t.c.skipped)).all()
        return {wanted[key]: self._skips(key, stored) for key, stored in rows if key in wanted}

    def _skips(self, key: str, stored: str) -> BackupSkips:
        kept: BackupSkips = {}
        try:
            for policy_id, what, why in decoded(stored, (list,)):
                if not (isinstance(policy_id, str | None) and isinstance(what, str) and isinstance(why, str)):
                    raise Damaged(key)
                kept.setdefault(policy_id, []).append(Skipped(what, why))
        except (Damaged, TypeError, ValueError):
            damaged(self.store.damaged, "backup reads' skips of the watch", key, SKIPS_DAMAGED)
            return {}
        return kept

    def save_backup_skips(self, holder: str, organization: str, database: str, kept: BackupSkips) -> bool:
        """What the reads of the database's backups leave out now; False when the lease is lost."""
        from bot.adapters.schema import watch_backup_skips as t

        key = seen_key(organization, database, "")
        rows = [[policy_id, item.what, item.reason] for policy_id, items in kept.items() for item in items]
        with self.store.engine.begin() as conn:
            if not self._holds(conn, holder):
                return False
            conn.execute(t.delete().where(t.c.database_key == key))
            if rows:
                conn.execute(t.insert().values(database_key=key, skipped=json.dumps(rows)))
        return True

"""Where the watch is in its cycle over the databases, and when each policy's backups are to be read again: in
the database, so that a pass resumes where the last stopped, on whichever instance holds the watch next.

Every write is conditional on the writer holding the watch lease, as the watch's other writes are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.adapters.store import Store
from bot.adapters.store.rows import seen_key
from bot.adapters.store.watch import WATCH_LEASE
from bot.domain.watch_share import BackupMark

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CURSOR = "watch"


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
        return (None, None) if row is None else (row[0], row[1])

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
            rows = conn.execute(sa.select(t.c.policy_id, t.c.last_ran_at, t.c.updated_at, t.c.due_at)
                                .where(t.c.organization == organization, t.c.database == database)).all()
        return {r[0]: BackupMark(r[1], r[2], r[3]) for r in rows}

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

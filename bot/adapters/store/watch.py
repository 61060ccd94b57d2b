"""The watch's state: its lease, the policies as last seen, and its notices until they are posted."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from bot.adapters.store.audit import AuditTrail
from bot.adapters.store.rows import (
    LEASE_DAMAGED,
    Damaged,
    could_be_an_id,
    damaged,
    damaged_until,
    decoded,
    log_event,
    notice_of,
    seen_key,
)
from bot.domain.audit import AuditEvent
from bot.domain.watch_state import Notice, Seen

SEEN_DAMAGED = "JSON that does not decode, or a time seen that is not a number"

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

WATCH_LEASE = "watch"


class WatchState(AuditTrail):
    def take_watch_lease(self, holder: str, seconds: float) -> bool:
        """Take or extend the watch lease: held by `holder`, or free, or its holder's time is up."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_lease

        now = self.clock()
        # A damaged until is taken over: no comparison with now frees it, and the watch would fall silent for good.
        past_any_lease = damaged_until(watch_lease.c.until, now)
        with self.engine.begin() as conn:
            taken = conn.execute(watch_lease.update()
                                 .where(watch_lease.c.name == WATCH_LEASE, sa.not_(past_any_lease),
                                        sa.or_(watch_lease.c.holder == holder, watch_lease.c.until < now))
                                 .values(holder=holder, until=now + seconds)).rowcount
            if taken == 1:
                return True
            if conn.execute(watch_lease.update().where(watch_lease.c.name == WATCH_LEASE, past_any_lease)
                            .values(holder=holder, until=now + seconds)).rowcount == 1:
                damaged(self.damaged, "watch lease", WATCH_LEASE, LEASE_DAMAGED)
                return True
            if conn.scalar(sa.select(watch_lease.c.name).where(watch_lease.c.name == WATCH_LEASE)) is not None:
                return False
            try:
                with conn.begin_nested():
                    conn.execute(watch_lease.insert().values(name=WATCH_LEASE, holder=holder, until=now + seconds))
            except sa.exc.IntegrityError:
                return False
            return True

    def release_watch_lease(self, holder: str) -> None:
        from bot.adapters.schema import watch_lease

        with self.engine.begin() as conn:
            conn.execute(watch_lease.update().where(watch_lease.c.name == WATCH_LEASE, watch_lease.c.holder == holder)
                         .values(holder=None, until=0))

    def _holds_watch(self, conn: Connection, holder: str) -> bool:
        # FOR UPDATE: a takeover waits for this transaction, so what it writes is the holder's alone.
        import sqlalchemy as sa

        from bot.adapters.schema import watch_lease

        until = conn.scalar(sa.select(watch_lease.c.until).where(watch_lease.c.name == WATCH_LEASE,
                                                                 watch_lease.c.holder == holder).with_for_update())
        return until is not None and until >= self.clock()

    def seen_policies(self, organization: str, database: str) -> tuple[dict[str, Seen], set[str]]:
        """The policies of a database as last seen, and apart the IDs of those whose row is damaged in the
        database: one policy's row damaged leaves the rest of its database watched."""
        import sqlalchemy as sa

        from bot.adapters.schema import as_stored, watch_seen

        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*as_stored(watch_seen)).where(
                watch_seen.c.organization == organization, watch_seen.c.database == database)).mappings().all()
        seen, lost = {}, set()
        for r in rows:
            try:
                at = r["seen_at"]
                if not isinstance(at, int | float) or isinstance(at, bool):  # SQLite keeps any text in it
                    raise Damaged("seen_at")
                seen[r["policy_id"]] = Seen(dict(decoded(r["policy"], (dict,))), r["problem"], float(at))
            except Damaged:
                damaged(self.damaged, "policy seen by the watch", r["policy_key"], SEEN_DAMAGED)
                lost.add(r["policy_id"])
        return seen, lost

    def save_seen(self, holder: str, organization: str, database: str, policy_id: str, values: dict[str, Any],
                  notice: Notice | None, record: AuditEvent | None = None) -> bool:
        """The policy as seen now, what the watch has to tell about it and its audit entry, all or none; False
        when the lease is no longer `holder`'s."""
        from bot.adapters.schema import watch_seen

        key = seen_key(organization, database, policy_id)
        with self.engine.begin() as conn:
            if not self._holds_watch(conn, holder):
                return False
            moved = conn.execute(watch_seen.update().where(watch_seen.c.policy_key == key)
                                 .values(policy=values, seen_at=self.clock())).rowcount
            if moved != 1:
                conn.execute(watch_seen.insert().values(policy_key=key, organization=organization, database=database,
                                                        policy_id=policy_id, policy=values, problem=None,
                                                        seen_at=self.clock()))
            if notice is not None:
                self._add_notice(conn, notice)
            logged = self._insert_event(conn, record)
        log_event(logged)
        return True

    def save_baseline(self, holder: str, organization: str, database: str,
                      policies: dict[str, dict[str, Any]]) -> bool:
        """The first read of a database, every policy in one transaction: a pass cut short saves none of them,
        so the next one is a baseline again rather than taking the policies not saved for new ones. False when
        the lease is no longer `holder`'s."""
        from bot.adapters.schema import watch_seen

        with self.engine.begin() as conn:
            if not self._holds_watch(conn, holder):
                return False
            for policy_id, values in policies.items():
                conn.execute(watch_seen.insert().values(
                    policy_key=seen_key(organization, database, policy_id), organization=organization,
                    database=database, policy_id=policy_id, policy=values, problem=None, seen_at=self.clock()))
            return True

    def save_problem(self, holder: str, organization: str, database: str, policy_id: str, problem: str | None,
                     notice: Notice | None, record: AuditEvent | None = None) -> bool:
        from bot.adapters.schema import watch_seen

        key = seen_key(organization, database, policy_id)
        with self.engine.begin() as conn:
            if not self._holds_watch(conn, holder):
                return False
            conn.execute(watch_seen.update().where(watch_seen.c.policy_key == key).values(problem=problem))
            if notice is not None:
                self._add_notice(conn, notice)
            logged = self._insert_event(conn, record)
        log_event(logged)
        return True

    @staticmethod
    def _add_notice(conn: Connection, notice: Notice) -> None:
        from bot.adapters.schema import watch_notices

        values = asdict(notice)
        values["fields"] = list(notice.fields)
        conn.execute(watch_notices.insert().values(**values, posted_at=None))

    def unposted_notices(self, limit: int = 50) -> list[Notice]:
        import sqlalchemy as sa

        from bot.adapters.schema import as_stored, watch_notices

        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*as_stored(watch_notices)).where(watch_notices.c.posted_at.is_(None))
                                .order_by(watch_notices.c.created_at).limit(limit)).mappings().all()
        return [notice for notice in (notice_of(r, self.damaged) for r in rows) if notice is not None]

    def claim_watch_notice(self, notice_id: str, holder: str, seconds: float) -> bool:
        """Claim an unposted watch notice to post it, so that one instance posts it; `watch_notice_posted` once
        posted, `unclaim_watch_notice` if that failed. A claim `holder` could not release is its own to take again,
        and anyone's once `seconds` have passed: a notice whose unclaim failed is not lost."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_notices as t

        now = self.clock()
        # A damaged claim (text, NaN, Infinity, a time no claim reaches) is taken: no comparison with now frees it,
        # and the notice would never be posted.
        past_any_claim = damaged_until(t.c.claimed_until, now)
        with self.engine.begin() as conn:
            free = sa.or_(t.c.claimed_until.is_(None), sa.and_(sa.not_(past_any_claim), sa.or_(
                t.c.claimed_by == holder, t.c.claimed_until < now)))
            if conn.execute(t.update().where(t.c.id == notice_id, t.c.posted_at.is_(None), free)
                            .values(claimed_by=holder, claimed_until=now + seconds)).rowcount == 1:
                return True
            if conn.execute(t.update().where(t.c.id == notice_id, t.c.posted_at.is_(None), past_any_claim)
                            .values(claimed_by=holder, claimed_until=now + seconds)).rowcount == 1:
                damaged(self.damaged, "watch notice", notice_id, LEASE_DAMAGED)
                return True
            return False

    def watch_notice_posted(self, notice_id: str) -> None:
        from bot.adapters.schema import watch_notices

        with self.engine.begin() as conn:
            conn.execute(watch_notices.update().where(watch_notices.c.id == notice_id)
                         .values(posted_at=self.clock(), claimed_by=None, claimed_until=None))

    def unclaim_watch_notice(self, notice_id: str) -> None:
        """Free a notice whose posting failed for another try; who tried stays, so the next one looks first
        whether Slack took it after all (`watch_notice_tried`)."""
        from bot.adapters.schema import watch_notices

        with self.engine.begin() as conn:
            conn.execute(watch_notices.update().where(watch_notices.c.id == notice_id).values(claimed_until=0))

    def watch_notice_tried(self, notice_id: str) -> bool:
        """Whether posting this unposted notice was tried before: Slack may hold it though its answer was lost,
        or its marking as posted failed."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_notices as t

        with self.reader.connect() as conn:
            return conn.scalar(sa.select(t.c.id).where(t.c.id == notice_id, t.c.posted_at.is_(None),
                                                       t.c.claimed_by.is_not(None))) is not None

    def get_notice(self, notice_id: str) -> Notice | None:
        import sqlalchemy as sa

        from bot.adapters.schema import as_stored, watch_notices

        if not could_be_an_id(notice_id):
            return None
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(*as_stored(watch_notices)).where(watch_notices.c.id == notice_id)
                               ).mappings().first()
        return notice_of(row, self.damaged) if row else None

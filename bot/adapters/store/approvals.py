"""Approvals of a request, each person's counted once."""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapters.store.audit import AuditTrail
from bot.adapters.store.notices import claimed_in
from bot.adapters.store.rows import approvers_by, log_event
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import APPROVED_STALE_SECONDS


class Approvals(AuditTrail):
    def add_approval(self, request_id: str, approver: str, record: AuditEvent | None = None) -> list[str] | None:
        """Count one approval once, recording `record` with it, while the request is pending: returns all
        approvers so far, None (nothing recorded) if this one had approved already, or [] (nothing recorded) if
        the request is no longer pending (a cancel or a rejection landed first) or its life has ended."""
        import sqlalchemy as sa

        from bot.adapters.schema import SELECT_APPROVERS, approvals, change_requests

        with self.engine.begin() as conn:
            # Approvals of one request take turns, and with its moves: two clicked together each count the other's
            # (PostgreSQL's read committed would otherwise let each see only its own row), and none lands after a
            # close. SQLite's BEGIN IMMEDIATE serializes already; FOR UPDATE is left out of its SQL.
            found = conn.execute(sa.select(change_requests.c.state, change_requests.c.expires_at)
                                 .where(change_requests.c.id == request_id).with_for_update()).first()
            if found is None or found.state != RequestState.PENDING.value or found.expires_at <= self.clock():
                return []
            try:  # the primary key (request, approver) refuses a second approval by the same person
                with conn.begin_nested():
                    conn.execute(approvals.insert().values(request_id=request_id, approver=approver, at=self.clock()))
            except sa.exc.IntegrityError:
                return None
            # Due for the sweep's judging once the click in flight is done, whatever becomes of the click.
            conn.execute(change_requests.update().where(change_requests.c.id == request_id)
                         .values(judge_at=self.clock() + APPROVED_STALE_SECONDS))
            logged = self._insert_event(conn, record)
            approved_by = list(conn.scalars(SELECT_APPROVERS, {"request_id": request_id}))
        log_event(logged)
        return approved_by

    def claim_notice_recorded(self, request_id: str, notice: str, record: AuditEvent) -> bool:
        """True for the one caller, on any instance, that may send this notice, `record` recorded with its claim."""
        with self.engine.begin() as conn:
            if not claimed_in(conn, request_id, notice, self.clock()):
                return False
            logged = self._insert_event(conn, record)
        log_event(logged)
        return True

    def approvers_of(self, request_id: str) -> list[str]:
        from bot.adapters.schema import SELECT_APPROVERS

        with self.reader.connect() as conn:
            return list(conn.scalars(SELECT_APPROVERS, {"request_id": request_id}))

    def approvers_by_request(self, request_ids: Sequence[str]) -> dict[str, list[str]]:
        """`approvers_of` for many requests in one query: every ID is a key, in the order of approval."""
        from bot.adapters.schema import approvals

        return approvers_by(self.reader, approvals, "request_id", request_ids)

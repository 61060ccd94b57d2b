"""Notices about a request (to the requester, to the audit channel), each sent by one caller across instances."""

from __future__ import annotations

from bot.adapters.store.connection import Connected


class RequestNotices(Connected):
    def claim_notice(self, request_id: str, notice: str) -> bool:
        """True for the one caller, on any instance, that may send this notice about this request."""
        import sqlalchemy as sa

        from bot.adapters.schema import request_notices

        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(request_notices.insert().values(request_id=request_id, notice=notice,
                                                                 at=self.clock()))
            except sa.exc.IntegrityError:
                return False
            return True

    def forget_notice(self, request_id: str, notice: str) -> None:
        """A notice that could not be sent may be tried again (by the next sweep or click)."""
        from bot.adapters.schema import request_notices

        with self.engine.begin() as conn:
            conn.execute(request_notices.delete().where(request_notices.c.request_id == request_id,
                                                        request_notices.c.notice == notice))

"""Notices about a request (to the requester, to the audit channel), each sent by one caller across instances."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.adapters.store.connection import Connected
from bot.adapters.store.rows import requests_of
from bot.domain.change_requests import CLOSED_STATES, OPEN_STATES, ChangeRequest

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# The claims of what the watch told the audit channel it skipped, under one ID no request has: told once across
# restarts and instances, for as long as it stays skipped.
WATCH_SKIPPED = "watch-skipped"


def skipped_notice(what: str, reason: str) -> str:
    """A skipped item's claim: the hash of what was skipped and why (names from outside have any length)."""
    return "skipped " + hashlib.sha256(json.dumps([what, reason]).encode("utf-8", "surrogatepass")).hexdigest()


def claimed_in(conn: Connection, request_id: str, notice: str, at: float) -> bool:
    """Claims the notice in `conn`'s transaction: True for the one caller, on any instance, that may send it."""
    import sqlalchemy as sa

    from bot.adapters.schema import request_notices

    try:
        with conn.begin_nested():
            conn.execute(request_notices.insert().values(request_id=request_id, notice=notice, at=at))
    except sa.exc.IntegrityError:
        return False
    return True


class RequestNotices(Connected):
    def claim_skipped(self, skipped: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Of what a whole pass skipped (what, why), those no instance told yet, claimed; the claims of anything
        no longer skipped are forgotten in the same write, so it is told again if it is skipped again."""
        import sqlalchemy as sa

        from bot.adapters.schema import request_notices as n

        keys = {skipped_notice(what, why): (what, why) for what, why in skipped}
        with self.engine.begin() as conn:
            conn.execute(n.delete().where(n.c.request_id == WATCH_SKIPPED, n.c.notice.not_in(list(keys) or [""])))
            told = set(conn.execute(sa.select(n.c.notice).where(n.c.request_id == WATCH_SKIPPED)).scalars())
            return [item for key, item in keys.items()
                    if key not in told and claimed_in(conn, WATCH_SKIPPED, key, self.clock())]

    def unclaim_skipped(self, skipped: Sequence[tuple[str, str]]) -> None:
        """Skipped items the audit channel did not take: told at the next pass."""
        from bot.adapters.schema import request_notices as n

        keys = [skipped_notice(what, why) for what, why in skipped]
        with self.engine.begin() as conn:
            conn.execute(n.delete().where(n.c.request_id == WATCH_SKIPPED, n.c.notice.in_(keys or [""])))

    def claim_notice(self, request_id: str, notice: str) -> bool:
        """True for the one caller, on any instance, that may send this notice about this request."""
        with self.engine.begin() as conn:
            return claimed_in(conn, request_id, notice, self.clock())

    def notice_claimed_at(self, request_id: str, notice: str) -> float | None:
        """When this notice about this request was claimed (its first try); None if it is not claimed."""
        import sqlalchemy as sa

        from bot.adapters.schema import request_notices

        with self.reader.connect() as conn:
            at = conn.execute(sa.select(request_notices.c.at).where(
                request_notices.c.request_id == request_id, request_notices.c.notice == notice)).scalar()
        return None if at is None else float(at)

    def claim_notices(self, request_id: str, notices: Sequence[str], regardless: Sequence[str] = ()) -> list[str]:
        """The claims this caller makes, in order, up to the first notice claimed already: a notice and then the
        mark that it was tried are claimed in one round trip, and the mark only with the notice. `regardless`:
        claimed first in the same round trip, each whether or not another is held already (not returned)."""
        import sqlalchemy as sa

        from bot.adapters.schema import request_notices

        claimed = []
        with self.engine.begin() as conn:
            for notice in regardless:
                claimed_in(conn, request_id, notice, self.clock())
            for notice in notices:
                try:
                    with conn.begin_nested():
                        conn.execute(request_notices.insert().values(request_id=request_id, notice=notice,
                                                                     at=self.clock()))
                except sa.exc.IntegrityError:
                    break
                claimed.append(notice)
        return claimed

    def take_over_notice(self, request_id: str, notice: str, claimed_before: float) -> bool:
        """True for the one caller, on any instance, that takes over a claim made before `claimed_before` (its
        claimant may have stopped before sending): claimed again, now, in one conditional write."""
        from bot.adapters.schema import request_notices

        with self.engine.begin() as conn:
            return conn.execute(request_notices.update().where(
                request_notices.c.request_id == request_id, request_notices.c.notice == notice,
                request_notices.c.at < claimed_before).values(at=self.clock())).rowcount == 1

    def unposted(self, notice: str, settled: str, claimed_before: float, limit: int = 50) -> list[ChangeRequest]:
        """Open requests with no message whose `notice` (their post) was claimed before `claimed_before` and
        `settled` not claimed, the oldest first: their claimant may have stopped before posting. One read."""
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS, change_requests, request_notices

        claimed = sa.select(request_notices.c.request_id).where(request_notices.c.notice == notice,
                                                                request_notices.c.at < claimed_before)
        done = sa.select(request_notices.c.request_id).where(request_notices.c.notice == settled)
        query = sa.select(*REQUEST_COLUMNS).where(change_requests.c.state.in_([s.value for s in OPEN_STATES]),
                                                 change_requests.c.message_ts.is_(None),
                                                 change_requests.c.id.in_(claimed),
                                                 change_requests.c.id.not_in(done))
        with self.reader.connect() as conn:
            rows = conn.execute(query.order_by(change_requests.c.created_at).limit(limit)).mappings().all()
        return requests_of(rows, self.damaged)

    def forget_notice(self, request_id: str, notice: str) -> None:
        """A notice that could not be sent may be tried again (by the next sweep or click): its request is no
        longer told, even if another caller marked it told while this one was sending."""
        from bot.adapters.schema import change_requests, request_notices

        with self.engine.begin() as conn:
            conn.execute(request_notices.delete().where(request_notices.c.request_id == request_id,
                                                        request_notices.c.notice == notice))
            conn.execute(change_requests.update().where(change_requests.c.id == request_id,
                                                        change_requests.c.told.is_(True)).values(told=False))

    def mark_told(self, request_id: str, notices: Sequence[str], claim: Sequence[str] = ()) -> bool:
        """Mark a closed request told, if every one of `notices` is claimed (sent, or being sent: one whose
        sending fails is forgotten, which unmarks it); `claim` is claimed first, in the same round trip."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests, request_notices

        claimed = (sa.select(sa.func.count()).select_from(request_notices)
                   .where(request_notices.c.request_id == request_id,
                          request_notices.c.notice.in_(list(notices) or [""])).scalar_subquery())
        with self.engine.begin() as conn:
            for notice in claim:
                try:
                    with conn.begin_nested():
                        conn.execute(request_notices.insert().values(request_id=request_id, notice=notice,
                                                                     at=self.clock()))
                except sa.exc.IntegrityError:
                    pass  # claimed already
            return conn.execute(change_requests.update().where(
                change_requests.c.id == request_id, change_requests.c.told.is_(False),
                change_requests.c.state.in_([s.value for s in CLOSED_STATES]),
                claimed == len(set(notices))).values(told=True)).rowcount == 1

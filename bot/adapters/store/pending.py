"""Open requests as people see them: how many are open, those a person can act on a page at a time, and those
with a reminder due. Each filtered in SQL, so that a thousand waiting cost what the few shown cost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.adapters.store.connection import Connected
from bot.adapters.store.rows import request_of
from bot.domain.change_requests import OPEN_STATES, ChangeRequest, PendingGroup, RequestState


class OpenRequests(Connected):
    def open_count(self) -> int:
        """How many requests are open (for the metrics)."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(r).where(
                r.c.state.in_([s.value for s in OPEN_STATES]))) or 0)

    def pending_groups(self, user: str, now: float) -> list[tuple[PendingGroup, int]]:
        """Pending requests not expired at `now`, `user`'s own and those `user` has not approved, counted by what
        access is judged on."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        first, second = _targets(r)
        own = r.c.requester == user
        query = (sa.select(r.c.organization, r.c.database, r.c.channel, first, second, own, sa.func.count())
                 .where(*_pending_now(r, now), sa.or_(own, _not_approved_by(r, user)))
                 .group_by(r.c.organization, r.c.database, r.c.channel, first, second, own))
        with self.engine.connect() as conn:
            return [(PendingGroup(org, db, channel, (t1, t2 or t1), bool(mine)), int(count))
                    for org, db, channel, t1, t2, mine, count in conn.execute(query)]

    def pending_page(self, user: str, now: float, groups: Sequence[PendingGroup] | None,
                     limit: int) -> list[ChangeRequest]:
        """The oldest `limit` pending requests not expired at `now`: `user`'s own (`groups` None), or of `groups`
        by others and not yet approved by `user`."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        query = sa.select(r).where(*_pending_now(r, now))
        if groups is None:
            query = query.where(r.c.requester == user)
        else:
            first, second = _targets(r)
            query = query.where(r.c.requester != user, _not_approved_by(r, user), sa.or_(*(
                sa.and_(r.c.organization == g.organization, r.c.database == g.database, r.c.channel == g.channel,
                        first == g.targets[0], sa.func.coalesce(second, first) == g.targets[1]) for g in groups)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(r.c.created_at).limit(limit)).mappings().all()
        return [request_of(row) for row in rows]

    def reminders_due(self, moments: Sequence[tuple[str, float, float]], now: float) -> list[ChangeRequest]:
        """Pending requests not expired where a moment (notice, share of life, seconds before) has passed and its
        notice is not claimed; with a second's margin for the arithmetic (the caller checks each)."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r
        from bot.adapters.schema import request_notices as n

        if not moments:
            return []
        due = [sa.and_(r.c.created_at + (r.c.expires_at - r.c.created_at) * share - before <= now + 1,
                       ~sa.exists().where(n.c.request_id == r.c.id, n.c.notice == notice))
               for notice, share, before in moments]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r).where(*_pending_now(r, now), sa.or_(*due))
                                .order_by(r.c.created_at)).mappings().all()
        return [request_of(row) for row in rows]


def _pending_now(r: Any, now: float) -> tuple[Any, Any]:
    return r.c.state == RequestState.PENDING.value, r.c.expires_at > now


def _targets(r: Any) -> tuple[Any, Any]:
    """The policy's target as asked and the new one of a move (NULL when it stays), as the JSON holds them."""
    return r.c.before["target"].as_string(), r.c.changes["target"].as_string()


def _not_approved_by(r: Any, user: str) -> Any:
    import sqlalchemy as sa

    from bot.adapters.schema import approvals as a

    return ~sa.exists().where(a.c.request_id == r.c.id, a.c.approver == user)

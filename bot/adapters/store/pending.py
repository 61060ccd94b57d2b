"""Open requests as people see them: how many are open, those a person can act on a page at a time, and those
with a reminder due. Each filtered in SQL, so that a thousand waiting cost what the few shown cost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.adapters.store.connection import Connected
from bot.adapters.store.rows import NUMBER_DAMAGED, REQUEST_JSON, damaged, requests_of
from bot.domain.change_requests import OPEN_STATES, ChangeKind, ChangeRequest, PendingGroup, RequestState

UNREADABLE = "JSON that does not decode, or a kind this version does not know (a newer version's)"
UNLISTED = ("it is left out of `pending` and the App Home; its message's buttons still act on it, and the sweep "
            "expires it in time")


class OpenRequests(Connected):
    def open_count(self) -> int:
        """How many requests are open (for the metrics)."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        with self.reader.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(r).where(
                r.c.state.in_([s.value for s in OPEN_STATES]))) or 0)

    def own_pending(self, user: str, now: float) -> int:
        """How many pending requests `user` asked that have not expired at `now`."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        with self.reader.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(r).where(
                *_pending_now(r, now), r.c.requester == user, _decodable(r, conn.dialect.name),
                _timed(r, conn.dialect.name))) or 0)

    def pending_waiting(self, user: str, now: float) -> list[tuple[PendingGroup, str, float]]:
        """Pending requests by others, not expired at `now` and not approved by `user`: each one's group (what
        access is judged on), ID and creation time, read in one query however many are shown."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        with self.reader.connect() as conn:
            decodable = _decodable(r, conn.dialect.name)
            query = sa.select(*_group_key(r, decodable), r.c.id, r.c.created_at, decodable.label("decodable"),
                              _timed(r, conn.dialect.name).label("timed"))
            rows = conn.execute(query.where(*_others_pending(r, user, now))).all()
        for row in rows:
            if not row[7]:
                damaged(self.damaged, "change request", row[5], UNREADABLE)
            elif not row[8]:
                damaged(self.damaged, "creation time of change request", row[5], NUMBER_DAMAGED, UNLISTED)
        return [(PendingGroup(row[0], row[1], row[2], (row[3], row[4])), row[5], row[6]) for row in rows
                if row[7] and row[8]]

    def pending_page(self, user: str, now: float, ids: Sequence[str] | None, limit: int) -> list[ChangeRequest]:
        """The oldest `limit` pending requests not expired at `now`: `user`'s own (`ids` None), or those of
        `ids` by others and not yet approved by `user`."""
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS
        from bot.adapters.schema import change_requests as r

        if ids is None:
            query = sa.select(*REQUEST_COLUMNS).where(*_pending_now(r, now), r.c.requester == user)
        else:
            query = sa.select(*REQUEST_COLUMNS).where(r.c.id.in_(list(ids)), *_others_pending(r, user, now))
        with self.reader.connect() as conn:
            query = query.where(_timed(r, conn.dialect.name))
            rows = conn.execute(query.order_by(r.c.created_at).limit(limit)).mappings().all()
        return requests_of(rows, self.damaged)

    def reminders_due(self, moments: Sequence[tuple[str, float, float]], now: float) -> list[ChangeRequest]:
        """Pending requests not expired where a moment (notice, share of life, seconds before) has passed and its
        notice is not claimed; with a second's margin for the arithmetic (the caller checks each)."""
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS
        from bot.adapters.schema import change_requests as r
        from bot.adapters.schema import request_notices as n

        if not moments:
            return []
        due = [sa.and_(r.c.created_at + (r.c.expires_at - r.c.created_at) * share - before <= now + 1,
                       ~sa.exists().where(n.c.request_id == r.c.id, n.c.notice == notice))
               for notice, share, before in moments]
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*REQUEST_COLUMNS).where(*_pending_now(r, now), sa.or_(*due))
                                .order_by(r.c.created_at)).mappings().all()
        return requests_of(rows, self.damaged)


def _pending_now(r: Any, now: float) -> tuple[Any, Any]:
    return r.c.state == RequestState.PENDING.value, r.c.expires_at > now


def _group_key(r: Any, decodable: Any) -> tuple[Any, ...]:
    """What access is judged on: where the request is, the policy's target as asked and the target it ends with
    (the new one of a move), as the JSON holds them (SQLite's json_extract fails the whole query on one row's
    damaged JSON: a damaged row's is not read)."""
    import sqlalchemy as sa

    return (r.c.organization, r.c.database, r.c.channel, r.c.target,
            sa.case((decodable, sa.func.coalesce(r.c.changes["target"].as_string(), r.c.target)), else_=r.c.target))


def _decodable(r: Any, dialect: str) -> Any:
    """Whether a row's JSON columns decode to what a request holds (store/rows.py `request_of`): SQLite keeps any
    text in them, and either database JSON of another shape; and its kind is one this version knows (a newer
    version's, sharing the database during a rolling deploy, is skipped where it is read)."""
    import sqlalchemy as sa

    names: dict[type | None, str] = {dict: "object", list: "array", None: "null"}
    conditions = [r.c.kind.in_([kind.value for kind in ChangeKind])]
    for name, shapes in REQUEST_JSON.items():
        column = r.c[name]
        kind = (sa.case((sa.func.json_valid(column) == 1, sa.func.json_type(column))) if dialect == "sqlite"
                else sa.func.json_typeof(column))
        shaped = kind.in_([names[shape] for shape in shapes])
        conditions.append(sa.or_(column.is_(None), shaped) if None in shapes else shaped)
    return sa.and_(*conditions)


def _timed(r: Any, dialect: str) -> Any:
    """Whether a row's creation time is a number, which lists order by: SQLite keeps any text in a number's
    column, and text compared with a time stops the whole list."""
    import sqlalchemy as sa

    if dialect != "sqlite":
        return sa.true()
    return sa.func.typeof(r.c.created_at).in_(["integer", "real"])


def _others_pending(r: Any, user: str, now: float) -> tuple[Any, ...]:
    return (*_pending_now(r, now), r.c.requester != user, _not_approved_by(r, user))


def _not_approved_by(r: Any, user: str) -> Any:
    import sqlalchemy as sa

    from bot.adapters.schema import approvals as a

    return ~sa.exists().where(a.c.request_id == r.c.id, a.c.approver == user)

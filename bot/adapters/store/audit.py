"""The audit trail: entries written inside a caller's transaction or on their own, and read back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from bot.adapters.store.connection import Connected
from bot.adapters.store.rows import AUDIT_JSON, columns, event_of, log_event, stored_json
from bot.domain.audit import AuditEvent, iso_of
from bot.domain.batches import BatchState
from bot.domain.change_requests import OPEN_STATES

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Table
    from sqlalchemy.engine import Connection

# How many entries `prune_batches` deletes in one transaction: each far inside PostgreSQL's statement timeout, and
# SQLite's write lock given back to the running bot between them.
PRUNE_BATCH = 5000


def read_columns(t: Table) -> list[ColumnElement[Any]]:
    """The trail's columns, its JSON fields as the text stored: `event_of` decodes them, so that one damaged
    entry hides no other."""
    import sqlalchemy as sa

    return [sa.cast(c, sa.Text).label(c.name) if c.name in AUDIT_JSON else c for c in t.c]


class AuditTrail(Connected):
    def record(self, event: AuditEvent) -> None:
        with self.engine.begin() as conn:
            logged = self._insert_event(conn, event)
        log_event(logged)

    def _insert_event(self, conn: Connection, event: AuditEvent | None) -> dict[str, Any] | None:
        """Put `event` on the audit trail inside `conn`'s transaction; its values, to log once committed."""
        from bot.adapters.schema import INSERT_EVENT

        if event is None:
            return None
        values = columns(event)
        if not values["at"]:
            values["at"] = iso_of(self.clock())
        conn.execute(INSERT_EVENT, values)
        return values

    def latest(self, organization: str, database: str, policy_refs: Sequence[str], limit: int) -> list[AuditEvent]:
        """The newest entries of a database, or of the policies named by `policy_refs` (IDs or exact names)."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events as t

        query = sa.select(*read_columns(t)).where(t.c.organization == organization, t.c.database == database)
        # One query a reference and a column, each down its own index from the newest: an OR of them made the
        # database read its whole trail (or the policy's, sorted) for the newest few.
        queries = [query.where(column == ref) for ref in dict.fromkeys(policy_refs)
                   for column in (t.c.policy_id, t.c.policy_name)] or [query]
        found: dict[int, Any] = {}
        with self.reader.connect() as conn:
            for each in queries:
                for row in conn.execute(each.order_by(t.c.seq.desc()).limit(limit)).mappings():
                    found[row["seq"]] = row
        return [event_of(found[seq]) for seq in sorted(found, reverse=True)[:limit]]

    def latest_of(self, actions: Sequence[str], limit: int) -> list[AuditEvent]:
        """The newest entries of these kinds, across databases (for a person's App Home), newest first."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events

        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*read_columns(audit_events)).where(audit_events.c.action.in_(list(actions)))
                                .order_by(audit_events.c.seq.desc()).limit(limit)).mappings().all()
        return [event_of(r) for r in rows]

    def events_of_request(self, request_id: str) -> list[AuditEvent]:
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events

        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*read_columns(audit_events)).where(audit_events.c.request_id == request_id)
                                .order_by(audit_events.c.seq)).mappings().all()
        return [event_of(r) for r in rows]

    def all_events(self, batch: int = 500) -> Iterator[AuditEvent]:
        return self.events(batch=batch)

    def events(self, since: str | None = None, until: str | None = None, organization: str | None = None,
               database: str | None = None, actor: str | None = None, batch: int = 500) -> Iterator[AuditEvent]:
        """Audit entries oldest first, read a batch at a time (constant memory however long the trail);
        `since` and `until` are times as entries write them (2026-01-31T00:00:00Z), `since` included."""
        names = [f.name for f in fields(AuditEvent)]
        at, when = [i for i, name in enumerate(names) if name in AUDIT_JSON], names.index("at")
        for rows in self.event_batches(since, until, organization, database, actor, batch, json_as_text=True):
            for row in rows:
                yield AuditEvent(*(stored_json(v, f"of {row[when]}") if i in at else v for i, v in enumerate(row)))

    def event_batches(self, since: str | None = None, until: str | None = None, organization: str | None = None,
                      database: str | None = None, actor: str | None = None,
                      batch: int = 5000, json_as_text: bool = False) -> Iterator[list[tuple[Any, ...]]]:
        """`events` a batch at a time, each entry a tuple of its values in the order of `AuditEvent`'s fields
        (for an export: no entry is built only to be taken apart); `json_as_text`: before, after and sent as
        the JSON text stored (None when none), for a reader that decodes each distinct text once."""
        import sqlalchemy as sa

        from bot.adapters.schema import ESCAPED, OutsideText
        from bot.adapters.schema import audit_events as t

        conditions = [c for c in (
            t.c.organization == organization if organization else None,
            t.c.database == database if database else None,
            t.c.actor == actor if actor else None) if c is not None]
        if since:
            conditions.append(t.c.at >= since)
        if until:
            conditions.append(t.c.at < until)
        # Between two times, in order of time down the index by time (then by entry, for the ties of a second);
        # otherwise in the order written.
        timed = bool(since or until)
        order = (t.c.at, t.c.seq) if timed else (t.c.seq,)
        names = [f.name for f in fields(AuditEvent)]
        # Names from outside read as stored, and each row flagged when one of them is escaped (rarely): the rest
        # skip OutsideText's look at every value.
        outside = [i for i, name in enumerate(names) if isinstance(t.c[name].type, OutsideText)]
        escaped = sa.or_(*(sa.func.substr(sa.type_coerce(t.c[names[i]], sa.Text), 1, 1) == ESCAPED for i in outside))
        selected = [t.c.seq, escaped, *(
            sa.cast(t.c[name], sa.Text) if json_as_text and isinstance(t.c[name].type, sa.JSON)
            else sa.type_coerce(t.c[name], sa.Text) if i in outside else t.c[name] for i, name in enumerate(names))]
        at = names.index("at") + 2
        read = OutsideText().process_result_value
        after: tuple[Any, ...] | None = None
        while True:
            query = sa.select(*selected).where(*conditions)
            if after is not None:
                query = query.where(sa.tuple_(*order) > sa.tuple_(*after) if timed else t.c.seq > after[-1])
            with self.reader.connect() as conn:
                rows = conn.execute(query.order_by(*order).limit(batch)).all()
            if not rows:
                return
            yield [row[2:] if not row[1] else tuple(read(v, None) if i in outside else v  # type: ignore[arg-type]
                                                    for i, v in enumerate(row[2:])) for row in rows]
            after = (rows[-1][at], rows[-1][0]) if timed else (rows[-1][0],)

    def prune_events(self, before: str) -> tuple[int, int]:
        """`prune_batches` to its end: (deleted, kept because their request is open)."""
        deleted = kept = 0
        for batch_deleted, batch_kept, _ in self.prune_batches(before):
            deleted, kept = deleted + batch_deleted, kept + batch_kept
        return deleted, kept

    def scrub(self, hide: Callable[[str], str], marks: Sequence[str]) -> dict[str, int]:
        """Each stored text where PlanetScale's words land (the trail's details, the requests' outcomes, the watch's
        notices) that holds one of `marks`, written again as `hide` gives it, one transaction a table: how many rows
        of each table changed."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events, change_requests, watch_notices

        changed: dict[str, int] = {}
        for column, key in ((audit_events.c.detail, audit_events.c.seq), (change_requests.c.detail,
                            change_requests.c.id), (watch_notices.c.detail, watch_notices.c.id)):
            holding = sa.or_(*(sa.type_coerce(column, sa.Text).contains(mark, autoescape=True) for mark in marks))
            with self.engine.begin() as conn:
                rows = conn.execute(sa.select(key, column).where(holding)).all()
                hidden = [(row_key, new) for row_key, old in rows if old is not None and (new := hide(old)) != old]
                for row_key, text in hidden:
                    conn.execute(column.table.update().where(key == row_key).values({column.name: text}))
            changed[column.table.name] = len(hidden)
        return changed

    def prunable(self, before: str, since: str = "") -> int:
        """How many entries written from `since` on `prune_batches(before)` would delete now."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events as t

        with self.reader.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(
                t.c.at < before, t.c.at >= since, *self._of_no_open_request(conn))).scalar_one())

    @staticmethod
    def _of_no_open_request(conn: Connection) -> list[ColumnElement[bool]]:
        """What an entry meets when it belongs to no request still open, nor to a bulk change waiting for approval,
        asked now."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events as t
        from bot.adapters.schema import change_batches as b
        from bot.adapters.schema import change_requests as r

        open_ids = sa.select(r.c.id).where(r.c.state.in_([s.value for s in OPEN_STATES]))
        # A bulk change waiting for approval is open too: its entries name no request row yet (its asking none,
        # each approval the ID its policy's request takes once approved), so those written since the oldest such
        # change was asked are kept.
        asked = conn.execute(sa.select(sa.func.min(b.c.created_at)).where(
            b.c.state == BatchState.PENDING.value)).scalar_one_or_none()
        bulk_open = [] if asked is None else [
            sa.or_(t.c.at < iso_of(float(asked)), sa.exists().where(r.c.id == t.c.request_id))]
        return [sa.or_(t.c.request_id.is_(None), t.c.request_id.not_in(open_ids)), *bulk_open]

    def prune_batches(self, before: str, batch: int | None = None) -> Iterator[tuple[int, int, bool]]:
        """Deletes the audit entries written before `before`, except those of a request still open (pending,
        approved or being applied) or of a bulk change waiting for approval, PRUNE_BATCH entries at a time in
        order of time, each batch its own transaction: (deleted, kept because their request is open, whether
        older entries may follow) of each batch, once committed. Whether a request is open is asked in each
        batch, so one opened meanwhile keeps its entries."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events as t

        size = batch or PRUNE_BATCH
        order = sa.tuple_(t.c.at, t.c.seq)
        after: tuple[str, int] | None = None
        while True:
            old = [t.c.at < before] if after is None else [t.c.at < before, order > sa.tuple_(*after)]
            with self.engine.connect() as conn:
                window = conn.execute(sa.select(t.c.at, t.c.seq).where(*old).order_by(t.c.at, t.c.seq)
                                      .limit(size)).all()
                if not window:
                    conn.rollback()
                    return
                last = (window[-1][0], window[-1][1])
                within = [*old, order <= sa.tuple_(*last)]
                deleted = conn.execute(t.delete().where(*within, *self._of_no_open_request(conn))).rowcount
                kept = conn.execute(sa.select(sa.func.count()).select_from(t).where(*within)).scalar_one()
                conn.commit()
            more = len(window) == size
            yield int(deleted or 0), int(kept), more
            if not more:
                return
            after = last

"""All storage: change requests, their approvals, and the audit trail, on SQLAlchemy Core.

SQLite by default, PostgreSQL for several instances. Every state change of a request is one conditional
UPDATE (`… WHERE id = ? AND state IN (…)`), so simultaneous clicks, Slack retries or two instances behind a
load balancer move a request once. Schema changes are numbered migrations, run under a lock at start and by
`backup-bot migrate`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from bot.audit import AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("bot.audit")

OPEN_STATES = ("pending", "approved", "applying")


def __getattr__(name: str) -> object:
    """The tables and migrations, as they were importable from here; SQLAlchemy loads with them."""
    if not name.startswith("_"):  # not an import machinery's question (__path__…), which must not load it
        from bot import schema

        if hasattr(schema, name):
            return getattr(schema, name)
    raise AttributeError(f"module 'bot.store' has no attribute {name!r}")


@dataclass
class ChangeRequest:
    organization: str
    database: str
    policy_id: str
    policy_name: str
    requester: str
    channel: str
    before: dict[str, Any]
    changes: dict[str, Any]
    approvals_needed: int
    approvers: list[str]
    expires_at: float
    reason: str | None = None
    risks: list[str] = field(default_factory=list)
    revert_of: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "pending"
    message_channel: str | None = None
    message_ts: str | None = None
    after: dict[str, Any] | None = None
    detail: str | None = None
    decided_by: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


def database_url(url: str) -> str:
    """SQLAlchemy's URL for a setting: `postgresql://` goes through psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class Store:
    """The database. Its engine (and SQLAlchemy) is made on first use; `ready` gates every use until the
    schema is known to be current, for a server that migrates after it has started listening."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time):
        self.url = database_url(url)
        self.clock = clock
        self.ready = threading.Event()
        self.ready.set()
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        self.ready.wait()
        return self._connect()

    def _connect(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        import sqlalchemy as sa

        sqlite = self.url.startswith("sqlite")
        engine: Engine = sa.create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {"connect_timeout": 5},
            pool_pre_ping=not sqlite,
        )
        if sqlite:
            # Writers take the lock at BEGIN, so conditional updates never meet a stale snapshot.
            @sa.event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _: Any) -> None:
                dbapi_connection.isolation_level = None
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
                # Durable across a crash of the process (kill -9 included); only a crash of the machine may
                # lose the last commits. SQLite's advice for WAL; several instances belong on PostgreSQL.
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")
                dbapi_connection.execute("PRAGMA busy_timeout=30000")

            @sa.event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # --- schema -------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations not yet applied; safe when several instances start at once."""
        import sqlalchemy as sa

        from bot import schema as t

        with self._connect().begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            t.schema_version.create(conn, checkfirst=True)
            done = set(conn.scalars(sa.select(t.schema_version.c.version)))
            for version, name, apply in t.MIGRATIONS:
                if version not in done:
                    apply(conn)
                    conn.execute(t.schema_version.insert().values(version=version, name=name,
                                                                  applied_at=self.clock()))
            return int(max([v for v, _, _ in t.MIGRATIONS] + list(done)))

    def version(self) -> int:
        """The schema's version; 0 for a database never migrated."""
        import sqlalchemy as sa

        from bot import schema as t

        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return int(conn.scalar(sa.select(sa.func.max(t.schema_version.c.version))) or 0)

    def healthy(self) -> tuple[bool, str]:
        import sqlalchemy as sa

        from bot import schema as t

        try:
            version = self.version()
        except sa.exc.SQLAlchemyError as exc:
            return False, f"database unreachable: {type(getattr(exc, 'orig', None) or exc).__name__}"
        latest = t.MIGRATIONS[-1][0]
        if version < latest:
            return False, f"schema at version {version}, needs {latest}: run `backup-bot migrate`"
        return True, f"schema version {version}"

    # --- change requests ------------------------------------------------------------------------------

    def add_request(self, request: ChangeRequest) -> ChangeRequest:
        from bot import schema as t

        with self.engine.begin() as conn:
            conn.execute(t.INSERT_REQUEST, asdict(request))
        return request

    def get_request(self, request_id: str) -> ChangeRequest | None:
        from bot import schema as t

        with self.engine.connect() as conn:
            row = conn.execute(t.SELECT_REQUEST, {"request_id": request_id}).mappings().first()
        return _request(row) if row else None

    def transition(self, request_id: str, from_states: Sequence[str], to: str, **values: Any) -> ChangeRequest | None:
        """Move a request from one of `from_states` to `to` in one conditional update; None if it was not there."""
        from bot import schema as t

        with self.engine.begin() as conn:
            # The columns set are the parameters named after columns: state, updated_at and `values`.
            moved = conn.execute(t.MOVE_REQUEST, {"request_id": request_id, "from_states": list(from_states),
                                                  "state": to, "updated_at": self.clock(), **values}).rowcount
            if moved != 1:
                return None
            row = conn.execute(t.SELECT_REQUEST, {"request_id": request_id}).mappings().one()
        return _request(row)

    def set_message(self, request_id: str, channel: str, ts: str) -> None:
        from bot import schema as t

        with self.engine.begin() as conn:
            conn.execute(t.SET_MESSAGE, {"request_id": request_id, "message_channel": channel, "message_ts": ts})

    def add_approval(self, request_id: str, approver: str) -> list[str] | None:
        """Count one approval once; returns all approvers so far, or None if this one had approved already."""
        import sqlalchemy as sa

        from bot import schema as t

        with self.engine.begin() as conn:
            try:  # the primary key (request, approver) refuses a second approval by the same person
                with conn.begin_nested():
                    conn.execute(t.approvals.insert().values(request_id=request_id, approver=approver,
                                                             at=self.clock()))
            except sa.exc.IntegrityError:
                return None
            return list(conn.scalars(t.SELECT_APPROVERS, {"request_id": request_id}))

    def approvers_of(self, request_id: str) -> list[str]:
        from bot import schema as t

        with self.engine.connect() as conn:
            return list(conn.scalars(t.SELECT_APPROVERS, {"request_id": request_id}))

    def requests(self, states: Sequence[str] = OPEN_STATES, expired_before: float | None = None,
                 updated_before: float | None = None, limit: int = 200) -> list[ChangeRequest]:
        import sqlalchemy as sa

        from bot import schema as t

        query = sa.select(t.change_requests).where(t.change_requests.c.state.in_(states))
        if expired_before is not None:
            query = query.where(t.change_requests.c.expires_at < expired_before)
        if updated_before is not None:
            query = query.where(t.change_requests.c.updated_at < updated_before)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.change_requests.c.created_at).limit(limit)).mappings().all()
        return [_request(r) for r in rows]

    # --- audit trail -----------------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        from bot import schema as t

        values = asdict(event)
        with self.engine.begin() as conn:
            conn.execute(t.INSERT_EVENT, values)
        if log.isEnabledFor(logging.INFO):
            log.info("audit %s", json.dumps(values, sort_keys=True, default=str))

    def latest(self, organization: str, database: str, policy_id: str | None, limit: int) -> list[AuditEvent]:
        import sqlalchemy as sa

        from bot import schema as t

        events = t.audit_events
        query = sa.select(events).where(events.c.organization == organization, events.c.database == database)
        if policy_id is not None:  # an ID or an exact name
            query = query.where(sa.or_(events.c.policy_id == policy_id, events.c.policy_name == policy_id))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(events.c.seq.desc()).limit(limit)).mappings().all()
        return [_event(r) for r in rows]

    def all_events(self, batch: int = 500) -> Iterator[AuditEvent]:
        import sqlalchemy as sa

        from bot import schema as t

        events = t.audit_events
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(events).where(events.c.seq > last)
                                    .order_by(events.c.seq).limit(batch)).mappings().all()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            last = rows[-1]["seq"]


def _request(row: Any) -> ChangeRequest:
    return ChangeRequest(**{f.name: row[f.name] for f in fields(ChangeRequest)})


def _event(row: Any) -> AuditEvent:
    return AuditEvent(**{f.name: row[f.name] for f in fields(AuditEvent)})

"""All storage: change requests, their approvals, and the audit trail, on SQLAlchemy Core.

SQLite by default, PostgreSQL for several instances. Every state change of a request is one conditional
UPDATE (`… WHERE id = ? AND state IN (…)`), so simultaneous clicks, Slack retries or two instances behind a
load balancer move a request once. Schema changes are numbered migrations, run under a lock at start and by
`backup-bot migrate`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.audit import AuditEvent

log = logging.getLogger("bot.audit")

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

change_requests = sa.Table(
    "change_requests", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("organization", sa.String(64), nullable=False),
    sa.Column("database", sa.String(64), nullable=False),
    sa.Column("policy_id", sa.String(128), nullable=False),
    sa.Column("policy_name", sa.String(255), nullable=False),
    sa.Column("requester", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("before", sa.JSON, nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
    sa.Column("approvals_needed", sa.Integer, nullable=False),
    sa.Column("approvers", sa.JSON, nullable=False),
    sa.Column("risks", sa.JSON, nullable=False),
    sa.Column("revert_of", sa.String(36)),
    sa.Column("message_channel", sa.String(32)),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("after", sa.JSON),
    sa.Column("detail", sa.Text),
    sa.Column("decided_by", sa.String(32)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

approvals = sa.Table(
    "approvals", metadata,
    sa.Column("request_id", sa.String(36), sa.ForeignKey("change_requests.id"), primary_key=True),
    sa.Column("approver", sa.String(32), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("organization", sa.String(64), nullable=False),
    sa.Column("database", sa.String(64), nullable=False),
    sa.Column("policy_id", sa.String(128)),
    sa.Column("policy_name", sa.String(255)),
    sa.Column("request_id", sa.String(36)),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("sent", sa.JSON),
    sa.Column("reason", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("channel", sa.String(32)),
    sa.Index("ix_audit_db", "organization", "database", "seq"),
)

OPEN_STATES = ("pending", "approved", "applying")

# Built once and given their values at execution: building a statement with .values(…) on each call was
# most of the CPU of a write (measured: 0.9 ms a transition), time taken from the acks beside it.
INSERT_REQUEST = change_requests.insert()
INSERT_EVENT = audit_events.insert()
MOVE_REQUEST = change_requests.update().where(change_requests.c.id == sa.bindparam("request_id"),
                                              change_requests.c.state.in_(sa.bindparam("from_states", expanding=True)))
SELECT_REQUEST = sa.select(change_requests).where(change_requests.c.id == sa.bindparam("request_id"))
SET_MESSAGE = change_requests.update().where(change_requests.c.id == sa.bindparam("request_id"))
SELECT_APPROVERS = (sa.select(approvals.c.approver).where(approvals.c.request_id == sa.bindparam("request_id"))
                    .order_by(approvals.c.at))


def _create_initial(conn: Connection) -> None:
    for table in (change_requests, approvals, audit_events):
        table.create(conn, checkfirst=True)


# Numbered, append-only: a released migration is never edited, only followed by a new one.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "change requests, approvals and the audit trail", _create_initial),
]


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
    def __init__(self, url: str, clock: Callable[[], float] = time.time):
        self.url = database_url(url)
        self.clock = clock
        sqlite = self.url.startswith("sqlite")
        self.engine: Engine = sa.create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {"connect_timeout": 5},
            pool_pre_ping=not sqlite,
        )
        if sqlite:
            # Writers take the lock at BEGIN, so conditional updates never meet a stale snapshot.
            @sa.event.listens_for(self.engine, "connect")
            def _on_connect(dbapi_connection: Any, _: Any) -> None:
                dbapi_connection.isolation_level = None
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
                # Durable across a crash of the process (kill -9 included); only a crash of the machine may
                # lose the last commits. SQLite's advice for WAL; several instances belong on PostgreSQL.
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")
                dbapi_connection.execute("PRAGMA busy_timeout=30000")

            @sa.event.listens_for(self.engine, "begin")
            def _on_begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    def close(self) -> None:
        self.engine.dispose()

    # --- schema -------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations not yet applied; safe when several instances start at once."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            schema_version.create(conn, checkfirst=True)
            done = set(conn.scalars(sa.select(schema_version.c.version)))
            for version, name, apply in MIGRATIONS:
                if version not in done:
                    apply(conn)
                    conn.execute(schema_version.insert().values(version=version, name=name,
                                                                applied_at=self.clock()))
            return int(max([v for v, _, _ in MIGRATIONS] + list(done)))

    def version(self) -> int:
        """The schema's version; 0 for a database never migrated."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return int(conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0)

    def healthy(self) -> tuple[bool, str]:
        try:
            version = self.version()
        except sa.exc.SQLAlchemyError as exc:
            return False, f"database unreachable: {type(getattr(exc, 'orig', None) or exc).__name__}"
        latest = MIGRATIONS[-1][0]
        if version < latest:
            return False, f"schema at version {version}, needs {latest}: run `backup-bot migrate`"
        return True, f"schema version {version}"

    # --- change requests ------------------------------------------------------------------------------

    def add_request(self, request: ChangeRequest) -> ChangeRequest:
        with self.engine.begin() as conn:
            conn.execute(INSERT_REQUEST, asdict(request))
        return request

    def get_request(self, request_id: str) -> ChangeRequest | None:
        with self.engine.connect() as conn:
            row = conn.execute(SELECT_REQUEST, {"request_id": request_id}).mappings().first()
        return _request(row) if row else None

    def transition(self, request_id: str, from_states: Sequence[str], to: str, **values: Any) -> ChangeRequest | None:
        """Move a request from one of `from_states` to `to` in one conditional update; None if it was not there."""
        with self.engine.begin() as conn:
            # The columns set are the parameters named after columns: state, updated_at and `values`.
            moved = conn.execute(MOVE_REQUEST, {"request_id": request_id, "from_states": list(from_states),
                                                "state": to, "updated_at": self.clock(), **values}).rowcount
            if moved != 1:
                return None
            row = conn.execute(SELECT_REQUEST, {"request_id": request_id}).mappings().one()
        return _request(row)

    def set_message(self, request_id: str, channel: str, ts: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(SET_MESSAGE, {"request_id": request_id, "message_channel": channel, "message_ts": ts})

    def add_approval(self, request_id: str, approver: str) -> list[str] | None:
        """Count one approval once; returns all approvers so far, or None if this one had approved already."""
        with self.engine.begin() as conn:
            try:  # the primary key (request, approver) refuses a second approval by the same person
                with conn.begin_nested():
                    conn.execute(approvals.insert().values(request_id=request_id, approver=approver, at=self.clock()))
            except sa.exc.IntegrityError:
                return None
            return list(conn.scalars(SELECT_APPROVERS, {"request_id": request_id}))

    def approvers_of(self, request_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.scalars(SELECT_APPROVERS, {"request_id": request_id}))

    def requests(self, states: Sequence[str] = OPEN_STATES, expired_before: float | None = None,
                 updated_before: float | None = None, limit: int = 200) -> list[ChangeRequest]:
        query = sa.select(change_requests).where(change_requests.c.state.in_(states))
        if expired_before is not None:
            query = query.where(change_requests.c.expires_at < expired_before)
        if updated_before is not None:
            query = query.where(change_requests.c.updated_at < updated_before)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(change_requests.c.created_at).limit(limit)).mappings().all()
        return [_request(r) for r in rows]

    # --- audit trail -----------------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        values = asdict(event)
        with self.engine.begin() as conn:
            conn.execute(INSERT_EVENT, values)
        if log.isEnabledFor(logging.INFO):
            log.info("audit %s", json.dumps(values, sort_keys=True, default=str))

    def latest(self, organization: str, database: str, policy_id: str | None, limit: int) -> list[AuditEvent]:
        query = sa.select(audit_events).where(audit_events.c.organization == organization,
                                              audit_events.c.database == database)
        if policy_id is not None:  # an ID or an exact name
            query = query.where(sa.or_(audit_events.c.policy_id == policy_id, audit_events.c.policy_name == policy_id))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(audit_events.c.seq.desc()).limit(limit)).mappings().all()
        return [_event(r) for r in rows]

    def all_events(self, batch: int = 500) -> Iterator[AuditEvent]:
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(audit_events).where(audit_events.c.seq > last)
                                    .order_by(audit_events.c.seq).limit(batch)).mappings().all()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            last = rows[-1]["seq"]


def _request(row: Any) -> ChangeRequest:
    return ChangeRequest(**{f.name: row[f.name] for f in fields(ChangeRequest)})


def _event(row: Any) -> AuditEvent:
    return AuditEvent(**{f.name: row[f.name] for f in fields(AuditEvent)})

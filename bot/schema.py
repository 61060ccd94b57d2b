"""The database's tables, the statements built once from them, and the numbered migrations.

Apart from bot/store.py so that SQLAlchemy, a fifth of the start-up, is imported when the database is first
used rather than before the first ack.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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

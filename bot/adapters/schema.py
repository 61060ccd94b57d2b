"""The database's tables and the numbered migrations.

Apart from the store (bot/adapters/store/) so that SQLAlchemy, a fifth of the start-up, is imported when the database is
first used rather than before the first ack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

log = logging.getLogger(__name__)
metadata = sa.MetaData()

# Marks a value stored escaped (below): a noncharacter, which no name PlanetScale returns is expected to begin with.
ESCAPED = "\ufffe"


class OutsideText(sa.TypeDecorator[str]):
    """Text from outside (PlanetScale's names and IDs, what people type): any length, and U+0000 too, which
    PostgreSQL's text cannot hold, and a lone surrogate (JSON's `\\ud800`), which no UTF-8 can. Such a value (or
    one beginning with ESCAPED) is stored as ESCAPED and its JSON string, and read back as it was; comparisons go
    through the same escape, so lookups by it still match."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and ("\x00" in value or value.startswith(ESCAPED) or _surrogate(value)):
            return ESCAPED + json.dumps(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, str) and value.startswith(ESCAPED):
            return str(json.loads(value[len(ESCAPED):]))
        return value  # type: ignore[no-any-return]


def _surrogate(value: str) -> bool:
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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
    sa.Column("organization", OutsideText, nullable=False),
    sa.Column("database", OutsideText, nullable=False),
    sa.Column("policy_id", OutsideText, nullable=False),
    sa.Column("policy_name", OutsideText, nullable=False),
    sa.Column("requester", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("reason", OutsideText),
    sa.Column("before", sa.JSON, nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
    sa.Column("approvals_needed", sa.Integer, nullable=False),
    sa.Column("approvers", sa.JSON, nullable=False),
    sa.Column("risks", sa.JSON, nullable=False),
    sa.Column("revert_of", sa.String(36)),
    sa.Column("message_channel", sa.String(32)),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("after", sa.JSON),
    sa.Column("detail", OutsideText),
    sa.Column("decided_by", sa.String(32)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False, server_default="0"),
    # What a rule asking approvals from several groups wants from each: {"@dba-leads": 1, "@security": 1}.
    sa.Column("approvals_from", sa.JSON),
    sa.Column("reason_by_person", sa.Boolean, nullable=False, server_default=sa.true()),
    # Whether a closed request's end has been shown and told everywhere it is owed (see `Store.mark_told`):
    # the sweep tells again those Slack refused, until it takes them.
    sa.Column("told", sa.Boolean, nullable=False, server_default=sa.false(), index=True),
    # update (PATCH), create (POST) or delete (DELETE); what the database held when asked (ChangeRequest.facts).
    sa.Column("kind", sa.String(10), nullable=False, server_default="update"),
    sa.Column("facts", sa.JSON),
    # The policy's target as asked (`before`'s), beside the JSON so that the open requests are grouped by what
    # access is judged on without parsing each one's JSON (migration 12).
    sa.Column("target", sa.Text),
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
    sa.Column("organization", OutsideText, nullable=False),
    sa.Column("database", OutsideText, nullable=False),
    sa.Column("policy_id", OutsideText),
    sa.Column("policy_name", OutsideText),
    sa.Column("request_id", sa.String(36)),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("sent", sa.JSON),
    sa.Column("reason", OutsideText),
    sa.Column("detail", OutsideText),
    sa.Column("channel", sa.String(32)),
    sa.Index("ix_audit_db", "organization", "database", "seq"),
)

# One row per policy the bot has applied a change to: who holds it now, until when, and how many changes have
# been applied through it (so a read made before the last apply is known to be stale).
policy_leases = sa.Table(
    "policy_leases", metadata,
    sa.Column("policy_key", OutsideText, primary_key=True),
    sa.Column("holder", sa.String(36)),
    sa.Column("until", sa.Float, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
)


# A notice about a request (a thread reply, a reminder, a direct message) that must reach Slack once, whichever
# instance sends it: the primary key refuses a second claim.
request_notices = sa.Table(
    "request_notices", metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("notice", sa.String(120), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)

# The watch (bot/domain/watch.py): the last state seen of each policy, what it has to tell the audit channel
# (kept until posted, so a Slack outage loses nothing and a restart repeats nothing), and the one lease that
# makes a single instance the watcher.
watch_seen = sa.Table(
    "watch_seen", metadata,
    sa.Column("policy_key", OutsideText, primary_key=True),
    sa.Column("organization", OutsideText, nullable=False),
    sa.Column("database", OutsideText, nullable=False),
    sa.Column("policy_id", OutsideText, nullable=False),
    sa.Column("policy", sa.JSON, nullable=False),
    sa.Column("problem", OutsideText),
    sa.Column("seen_at", sa.Float, nullable=False),
    sa.Index("ix_watch_seen_db", "organization", "database"),
)

watch_notices = sa.Table(
    "watch_notices", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("organization", OutsideText, nullable=False),
    sa.Column("database", OutsideText, nullable=False),
    sa.Column("policy_id", OutsideText, nullable=False),
    sa.Column("policy_name", OutsideText, nullable=False),
    sa.Column("detail", OutsideText, nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("posted_at", sa.Float, index=True),
    # Who is posting it, until when: a claim its holder could not release ends, so the notice is not lost.
    sa.Column("claimed_by", sa.String(36)),
    sa.Column("claimed_until", sa.Float),
)

watch_lease = sa.Table(
    "watch_lease", metadata,
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("holder", sa.String(36)),
    sa.Column("until", sa.Float, nullable=False),
)

# Where the watch is in its cycle over the databases (the last one read), so that a pass resumes there, on any
# instance; and, per policy, when its backups are to be read again (bot/domain/watch_share.py).
watch_cursor = sa.Table(
    "watch_cursor", metadata,
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("position", OutsideText),
    sa.Column("cycle_started_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

watch_backup_reads = sa.Table(
    "watch_backup_reads", metadata,
    sa.Column("policy_key", OutsideText, primary_key=True),
    sa.Column("organization", OutsideText, nullable=False),
    sa.Column("database", OutsideText, nullable=False),
    sa.Column("policy_id", OutsideText, nullable=False),
    sa.Column("last_ran_at", OutsideText),
    sa.Column("updated_at", OutsideText, nullable=False),
    sa.Column("due_at", sa.Float, nullable=False),
    sa.Index("ix_watch_backup_reads_db", "organization", "database"),
)

# PlanetScale's budget shared by every instance (bot/adapters/shared_budget.py): per service token, the
# theoretical arrival time of the next request (GCRA), moved by one conditional UPDATE per request.
planetscale_budget = sa.Table(
    "planetscale_budget", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("tat", sa.Float, nullable=False),
)

# Requests from Slack whose work has started, by a digest of their body (with the order of the work within
# one): a replayed or retried request does nothing again, on any instance. Kept for DELIVERY_MEMORY_SECONDS.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
)

# A bulk change (bot/domain/batches.py): what was asked and planned, as JSON; its approvals; and its members,
# each an ordinary change request once the batch is approved, with how its step through the change path ended.
change_batches = sa.Table(
    "change_batches", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("organization", OutsideText, nullable=False),
    sa.Column("requester", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("decided_by", sa.String(32)),
    sa.Column("message_channel", sa.String(32)),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

batch_approvals = sa.Table(
    "batch_approvals", metadata,
    sa.Column("batch_id", sa.String(36), sa.ForeignKey("change_batches.id"), primary_key=True),
    sa.Column("approver", sa.String(32), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)

batch_members = sa.Table(
    "batch_members", metadata,
    sa.Column("request_id", sa.String(36), sa.ForeignKey("change_requests.id"), primary_key=True),
    sa.Column("batch_id", sa.String(36), sa.ForeignKey("change_batches.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(32)),
)


# Built once and given their values at execution: building a statement with .values(…) on each call was most
# of the CPU of a write, time taken from the acks beside it.
INSERT_REQUEST = change_requests.insert()
INSERT_EVENT = audit_events.insert()
# A request's move between states, its new row returned by the same statement: the columns it sets are the
# parameters given (besides `request_id` and `from_states`).
TRANSITION = (change_requests.update()
              .where(change_requests.c.id == sa.bindparam("request_id"),
                     change_requests.c.state.in_(sa.bindparam("from_states", expanding=True)))
              .returning(*change_requests.c))
SELECT_REQUEST = sa.select(change_requests).where(change_requests.c.id == sa.bindparam("request_id"))
SELECT_APPROVERS = (sa.select(approvals.c.approver).where(approvals.c.request_id == sa.bindparam("request_id"))
                    .order_by(approvals.c.at))


def _create_initial(conn: Connection) -> None:
    for table in (change_requests, approvals, audit_events):
        table.create(conn, checkfirst=True)


def _add_leases(conn: Connection) -> None:
    # Migration 1 creates today's table for a new database; only a database made before this adds the column.
    if "lease_until" not in {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}:
        conn.exec_driver_sql("ALTER TABLE change_requests ADD COLUMN lease_until FLOAT NOT NULL DEFAULT 0")
    policy_leases.create(conn, checkfirst=True)


def _add_notices(conn: Connection) -> None:
    # Only this branch's own column and table: whatever other migrations ran before (or not), this one holds.
    if "approvals_from" not in {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}:
        conn.exec_driver_sql("ALTER TABLE change_requests ADD COLUMN approvals_from JSON")
    request_notices.create(conn, checkfirst=True)


def _add_deliveries(conn: Connection) -> None:
    deliveries.create(conn, checkfirst=True)


def _add_watch(conn: Connection) -> None:
    for table in (watch_seen, watch_notices, watch_lease):
        table.create(conn, checkfirst=True)


def _add_audit_time_index(conn: Connection) -> None:
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_audit_at ON audit_events (at)")


def _add_reason_by_person(conn: Connection) -> None:
    # Requests stored before this step were asked with a person's reason or none, except reverts: the bot wrote
    # those ("revert of …"), so they never stand for the reason a guardrail's override asks.
    if "reason_by_person" not in {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}:
        conn.exec_driver_sql("ALTER TABLE change_requests ADD COLUMN reason_by_person BOOLEAN NOT NULL DEFAULT TRUE")
        conn.exec_driver_sql("UPDATE change_requests SET reason_by_person = FALSE WHERE reason LIKE 'revert of %'")


def _add_notice_claims(conn: Connection) -> None:
    # A database migrated from scratch has them already (migration 3 creates the table as it is now).
    have = {c["name"] for c in sa.inspect(conn).get_columns("watch_notices")}
    for column, kind in (("claimed_by", "VARCHAR(36)"), ("claimed_until", "FLOAT")):
        if column not in have:
            conn.exec_driver_sql(f"ALTER TABLE watch_notices ADD COLUMN {column} {kind}")


# The columns that hold names and IDs from PlanetScale (and the keys made of them), once VARCHARs.
OUTSIDE_TEXT_COLUMNS = {
    "change_requests": ("organization", "database", "policy_id", "policy_name"),
    "audit_events": ("organization", "database", "policy_id", "policy_name"),
    "policy_leases": ("policy_key",),
    "watch_seen": ("policy_key", "organization", "database", "policy_id"),
    "watch_notices": ("organization", "database", "policy_id", "policy_name"),
}


def _outside_text(conn: Connection) -> None:
    # SQLite never enforced a VARCHAR's length; PostgreSQL refused a longer name than the column's.
    if conn.dialect.name != "postgresql":
        return
    for table, columns in OUTSIDE_TEXT_COLUMNS.items():
        for column in columns:
            conn.exec_driver_sql(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE TEXT')


MIGRATION_10_CANCELLED = "a second revert of the same change, asked before the bot kept one per change"


def _one_open_revert(conn: Connection) -> None:
    # Two instances could each ask a revert of the same change: all but one of such open reverts are cancelled
    # (one applying is kept, else the oldest; an applying one is never cancelled), so the index can hold.
    open_states = ("pending", "approved", "applying")
    rows = conn.execute(sa.select(change_requests.c.id, change_requests.c.revert_of, change_requests.c.state,
                                  change_requests.c.organization, change_requests.c.database)
                        .where(change_requests.c.revert_of.is_not(None), change_requests.c.state.in_(open_states))
                        .order_by(change_requests.c.created_at, change_requests.c.id)).mappings().all()
    kept: set[str] = set()
    for row in rows:
        if row["state"] != "applying":
            continue
        if row["revert_of"] not in kept:
            kept.add(row["revert_of"])
            continue
        # A second applying revert of one change (left by an older version) still settles from what PlanetScale
        # holds; only its link to the change is let go, so the index can hold. Its reason still names the change.
        conn.execute(change_requests.update().where(change_requests.c.id == row["id"]).values(revert_of=None))
        log.warning("request %s, a second revert of %s left applying, is kept without its link to it",
                    row["id"], row["revert_of"])
    for row in rows:
        if row["state"] == "applying":
            continue
        if row["revert_of"] not in kept:
            kept.add(row["revert_of"])
            continue
        detail = MIGRATION_10_CANCELLED
        conn.execute(change_requests.update().where(change_requests.c.id == row["id"])
                     .values(state="cancelled", detail=detail))
        conn.execute(INSERT_EVENT, {"action": "cancelled", "actor": "backup-bot", "organization": row["organization"],
                                    "database": row["database"], "request_id": row["id"], "detail": detail,
                                    "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")})
    conn.exec_driver_sql("CREATE UNIQUE INDEX IF NOT EXISTS ux_open_revert ON change_requests (revert_of) "
                         "WHERE revert_of IS NOT NULL AND state IN ('pending', 'approved', 'applying')")


def _add_told(conn: Connection) -> None:
    # The requests closed before this step were told as they closed, except the reverts migration 10 cancelled
    # in the database alone: those are owed to their message, thread and requester, which the next sweep tells.
    if "told" not in {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}:
        conn.exec_driver_sql("ALTER TABLE change_requests ADD COLUMN told BOOLEAN NOT NULL DEFAULT FALSE")
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_change_requests_told ON change_requests (told)")
    conn.execute(change_requests.update()
                 .where(change_requests.c.state.in_(("applied", "failed", "rejected", "cancelled", "expired")),
                        change_requests.c.detail.is_distinct_from(MIGRATION_10_CANCELLED))
                 .values(told=True))


def _add_kinds(conn: Connection) -> None:
    # Every request stored before this step was an update; migration 1 creates today's table for a new database.
    have = {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}
    if "kind" not in have:
        conn.exec_driver_sql("ALTER TABLE change_requests ADD COLUMN kind VARCHAR(10) NOT NULL DEFAULT 'update'")
    if "facts" not in have:
        conn.exec_driver_sql("ALTER TABLE change_requests ADD COLUMN facts JSON")


def _add_batches(conn: Connection) -> None:
    for table in (change_batches, batch_approvals, batch_members):
        table.create(conn, checkfirst=True)


def _add_watch_progress(conn: Connection) -> None:
    for table in (watch_cursor, watch_backup_reads, planetscale_budget):
        table.create(conn, checkfirst=True)
# Each query on the trail and the requests down an index that fits it (tests/bot/adapters/test_query_plans.py
# checks them with EXPLAIN): a year of trail is a million entries.
HISTORY_INDEXES = (
    "ix_audit_policy_id ON audit_events (organization, database, policy_id, seq)",
    "ix_audit_policy_name ON audit_events (organization, database, policy_name, seq)",
    "ix_audit_action ON audit_events (action, seq)",
    "ix_audit_request ON audit_events (request_id, seq)",
    "ix_audit_actor ON audit_events (actor, seq)",
    "ix_audit_at_seq ON audit_events (at, seq)",
    "ix_requests_state_created ON change_requests (state, created_at)",
    "ix_requests_policy ON change_requests (organization, database, policy_id, state)",
    "ix_requests_revert_of ON change_requests (revert_of)",
    "ix_requests_requester ON change_requests (state, requester, created_at)",
    "ix_approvals_approver ON approvals (approver, request_id)",
)


def _history_indexes(conn: Connection) -> None:
    # Migration 1 creates today's table for a new database; only a database made before this adds the column.
    if "target" not in {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}:
        conn.exec_driver_sql("ALTER TABLE change_requests ADD COLUMN target TEXT")
    for request_id, before in conn.execute(sa.select(change_requests.c.id, change_requests.c.before)
                                           .where(change_requests.c.target.is_(None))).all():
        if isinstance(before, dict) and isinstance(before.get("target"), str):
            conn.execute(change_requests.update().where(change_requests.c.id == request_id)
                         .values(target=before["target"]))
    for index in HISTORY_INDEXES:
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {index}")
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_audit_at")  # ix_audit_at_seq begins with it


# Numbered, append-only: a released migration is never edited, only followed by a new one.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "change requests, approvals and the audit trail", _create_initial),
    (2, "a lease per policy and per applying request", _add_leases),
    (3, "the watch: policies as last seen, its notices and its lease", _add_watch),
    (4, "approvals from several groups; notices sent once per request", _add_notices),
    (5, "the audit trail by time, for `audit export --since/--until` and `audit prune`", _add_audit_time_index),
    (6, "requests from Slack acted on once (replays, retries, several instances)", _add_deliveries),
    (7, "whether a request's reason was written by a person or by the bot", _add_reason_by_person),
    (8, "names and IDs from PlanetScale of any length", _outside_text),
    (9, "a watch notice is claimed for a while and marked posted once posted", _add_notice_claims),
    (10, "one open revert per change, across instances", _one_open_revert),
    (11, "a closed request's end told until Slack takes it", _add_told),
    (12, "requests that create or delete a policy, and the facts they were judged on", _add_kinds),
    (13, "bulk changes: a batch of policies, approved once, each applied on its own", _add_batches),
    (14, "the watch's place in its cycle, its backup reads per policy, PlanetScale's budget shared",
     _add_watch_progress),
    (15, "indexes for a year of history: entries by policy, kind, request, actor and time; requests by state, "
         "policy and requester; approvals by approver; each request's target beside its JSON",
     _history_indexes),
]

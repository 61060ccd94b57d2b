"""The database's tables, as the newest migration (bot/adapters/migrations/) leaves them, and what the migrations
name.

Apart from the store (bot/adapters/store/) so that SQLAlchemy, a fifth of the start-up, is imported when the database is
first used rather than before the first ack.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

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
    # access is judged on without parsing each one's JSON (revision 0015).
    sa.Column("target", sa.Text),
    # Left applying by a version before the 'sending' entry (revision 0017): its PATCH may have left unrecorded.
    sa.Column("left_by_older", sa.Boolean, nullable=False, server_default=sa.false()),
    # When the sweep next judges a pending request with an approval again (revision 0018); none: no approval yet.
    sa.Column("judge_at", sa.Float),
    sa.Index("ix_requests_judge_at", "state", "judge_at"),
    # The approvals the judge counted when it decided, in the order given (revision 0019); none: not decided by
    # this version, or no approval asked.
    sa.Column("counted", sa.JSON),
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

# What the watch's last read of a database's backups left out, by policy (None: its branches), as JSON: kept while
# true between reads, across restarts, so the audit channel hears each once (bot/domain/watch_skips.py).
watch_backup_skips = sa.Table(
    "watch_backup_skips", metadata,
    sa.Column("database_key", OutsideText, primary_key=True),
    sa.Column("skipped", sa.Text, nullable=False),
)

# PlanetScale's budget shared by every instance on PostgreSQL (bot/adapters/shared_budget.py): per service token,
# the theoretical arrival time of the next request (GCRA), moved by one conditional UPDATE per request; beside it,
# one row per instance sharing it (`<token>:<instance>`), its time when that instance last reserved a turn (how
# many share it, for each one's share while the database refuses). On SQLite the same table lives in a file of
# its own beside the database (`budget_path`), and this one stays empty.
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
    # The durable inbox (bot/adapters/store/inbox.py): the instance doing the work, until when, and the signed
    # request to redo it from; no body once the work is done.
    sa.Column("holder", sa.String(64), index=True),
    sa.Column("lease_until", sa.Float, index=True),
    sa.Column("body", sa.Text),
    sa.Column("handed_again", sa.Boolean, nullable=False, server_default=sa.false()),
    # A token each write draws: a write tried again after its connection dropped knows the rows it wrote by it.
    sa.Column("written", sa.String(16)),
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
    # When the sweep next judges a pending bulk change with an approval again (revision 0018), as a request's.
    sa.Column("judge_at", sa.Float),
    sa.Index("ix_batches_judge_at", "state", "judge_at"),
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




def as_stored(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    """A table's columns to read, its JSON ones as the text stored: the reader decodes them (store/rows.py), so
    that one row damaged in the database (SQLite keeps any text) is skipped and hides no other."""
    return [sa.cast(c, sa.Text).label(c.name) if isinstance(c.type, sa.JSON) else c for c in table.c]


REQUEST_COLUMNS = as_stored(change_requests)
BATCH_COLUMNS = as_stored(change_batches)

# Built once and given their values at execution: building a statement with .values(…) on each call was most
# of the CPU of a write, time taken from the acks beside it.
INSERT_REQUEST = change_requests.insert()
INSERT_EVENT = audit_events.insert()
# A request's move between states, its new row returned by the same statement: the columns it sets are the
# parameters given (besides `request_id` and `from_states`).
TRANSITION = (change_requests.update()
              .where(change_requests.c.id == sa.bindparam("request_id"),
                     change_requests.c.state.in_(sa.bindparam("from_states", expanding=True)))
              .returning(*REQUEST_COLUMNS))
SELECT_REQUEST = sa.select(*REQUEST_COLUMNS).where(change_requests.c.id == sa.bindparam("request_id"))
SELECT_APPROVERS = (sa.select(approvals.c.approver).where(approvals.c.request_id == sa.bindparam("request_id"))
                    .order_by(approvals.c.at))


# The columns that hold names and IDs from PlanetScale (and the keys made of them), once VARCHARs (revision 0008).
OUTSIDE_TEXT_COLUMNS = {
    "change_requests": ("organization", "database", "policy_id", "policy_name"),
    "audit_events": ("organization", "database", "policy_id", "policy_name"),
    "policy_leases": ("policy_key",),
    "watch_seen": ("policy_key", "organization", "database", "policy_id"),
    "watch_notices": ("organization", "database", "policy_id", "policy_name"),
}

# The detail of the reverts revision 0010 cancelled, which revision 0011 leaves to be told.
MIGRATION_10_CANCELLED = "a second revert of the same change, asked before the bot kept one per change"


# Each query on the trail and the requests down an index that fits it, made by revision 0015
# (tests/bot/adapters/test_query_plans.py checks them with EXPLAIN): a year of trail is a million entries.
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

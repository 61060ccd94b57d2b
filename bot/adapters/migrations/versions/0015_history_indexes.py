"""Indexes for a year of history: entries by policy, kind, request, actor and time; requests by state, policy and
requester; approvals by approver; each request's target beside its JSON."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import columns, one_way

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    conn = op.get_bind()
    requests = schema.change_requests
    # Revision 0001 creates today's table for a new database; only a database made before this adds the column.
    if "target" not in columns(conn, "change_requests"):
        op.execute("ALTER TABLE change_requests ADD COLUMN target TEXT")
    for request_id, before in conn.execute(sa.select(requests.c.id, requests.c.before)
                                           .where(requests.c.target.is_(None))).all():
        if isinstance(before, dict) and isinstance(before.get("target"), str):
            conn.execute(requests.update().where(requests.c.id == request_id).values(target=before["target"]))
    for index in schema.HISTORY_INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {index}")
    op.execute("DROP INDEX IF EXISTS ix_audit_at")  # ix_audit_at_seq begins with it


def downgrade() -> None:
    one_way(revision)

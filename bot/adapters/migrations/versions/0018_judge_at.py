"""When the sweep next judges a pending request or bulk change with an approval again: the sweep takes a bounded
number of turns, the longest due first, instead of judging every such one on every sweep."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import columns

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    conn = op.get_bind()
    # Revision 0001 and 0013 make today's tables for a new database; only a database made before this adds them.
    for table in ("change_requests", "change_batches"):
        if "judge_at" not in columns(conn, table):
            op.add_column(table, sa.Column("judge_at", sa.Float))
    op.execute("CREATE INDEX IF NOT EXISTS ix_requests_judge_at ON change_requests (state, judge_at)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_batches_judge_at ON change_batches (state, judge_at)")
    # What is pending with an approval now is due at once, as the sweep judged it before this revision.
    requests, batches = schema.change_requests, schema.change_batches
    conn.execute(requests.update().where(
        requests.c.state == "pending",
        sa.exists().where(schema.approvals.c.request_id == requests.c.id)).values(judge_at=0.0))
    conn.execute(batches.update().where(
        batches.c.state == "pending",
        sa.exists().where(schema.batch_approvals.c.batch_id == batches.c.id)).values(judge_at=0.0))


def downgrade() -> None:
    # Back to revision 0017's schema: its sweep judges again every pending one with an approval.
    op.drop_index("ix_batches_judge_at", "change_batches")
    op.drop_index("ix_requests_judge_at", "change_requests")
    op.drop_column("change_batches", "judge_at")
    op.drop_column("change_requests", "judge_at")

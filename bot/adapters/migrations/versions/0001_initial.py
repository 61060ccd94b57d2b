"""Change requests, approvals and the audit trail."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import one_way

revision = "0001"
down_revision = None


def upgrade() -> None:
    conn = op.get_bind()
    # Today's tables, as a new database has them; the steps after this one add to a database made before them.
    for table in (schema.change_requests, schema.approvals, schema.audit_events):
        table.create(conn, checkfirst=True)


def downgrade() -> None:
    one_way(revision)

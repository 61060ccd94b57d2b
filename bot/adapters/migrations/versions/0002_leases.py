"""A lease per policy and per applying request."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import columns, one_way

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    conn = op.get_bind()
    # Revision 0001 creates today's table for a new database; only a database made before this adds the column.
    if "lease_until" not in columns(conn, "change_requests"):
        op.execute("ALTER TABLE change_requests ADD COLUMN lease_until FLOAT NOT NULL DEFAULT 0")
    schema.policy_leases.create(conn, checkfirst=True)


def downgrade() -> None:
    one_way(revision)

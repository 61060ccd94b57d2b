"""Bulk changes: a batch of policies, approved once, each applied on its own."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import one_way

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    conn = op.get_bind()
    for table in (schema.change_batches, schema.batch_approvals, schema.batch_members):
        table.create(conn, checkfirst=True)


def downgrade() -> None:
    one_way(revision)

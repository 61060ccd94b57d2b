"""Approvals from several groups; notices sent once per request."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import columns, one_way

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    conn = op.get_bind()
    if "approvals_from" not in columns(conn, "change_requests"):
        op.execute("ALTER TABLE change_requests ADD COLUMN approvals_from JSON")
    schema.request_notices.create(conn, checkfirst=True)


def downgrade() -> None:
    one_way(revision)

"""The audit trail by time, for `audit export --since/--until` and `audit prune`."""

from __future__ import annotations

from alembic import op

from bot.adapters.migrations.steps import one_way

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_audit_at ON audit_events (at)")


def downgrade() -> None:
    one_way(revision)

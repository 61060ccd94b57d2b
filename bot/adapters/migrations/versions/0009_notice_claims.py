"""A watch notice is claimed for a while and marked posted once posted."""

from __future__ import annotations

from alembic import op

from bot.adapters.migrations.steps import columns, one_way

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    # A database migrated from scratch has them already (revision 0003 creates the table as it is now).
    have = columns(op.get_bind(), "watch_notices")
    for column, kind in (("claimed_by", "VARCHAR(36)"), ("claimed_until", "FLOAT")):
        if column not in have:
            op.execute(f"ALTER TABLE watch_notices ADD COLUMN {column} {kind}")


def downgrade() -> None:
    one_way(revision)

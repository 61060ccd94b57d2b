"""The durable inbox: each request from Slack's work keeps the instance doing it, its lease and the signed request,
so that another instance redoes the work of one that stopped."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.migrations.steps import columns, one_way

revision = "0016"
down_revision = "0015"
INDEXED = ("holder", "lease_until")


def added() -> list[sa.Column[object]]:
    return [sa.Column("holder", sa.String(64)), sa.Column("lease_until", sa.Float), sa.Column("body", sa.Text),
            sa.Column("handed_again", sa.Boolean, nullable=False, server_default=sa.false())]


def upgrade() -> None:
    # Revision 0006 makes today's table for a new database; only a database made before this adds the columns.
    have = columns(op.get_bind(), "deliveries")
    for column in added():
        if column.name not in have:
            op.add_column("deliveries", column)
    # Each instance renews its own rows, and looks for lapsed ones, every 2 s among an hour of deliveries.
    for name in INDEXED:
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_deliveries_{name} ON deliveries ({name})")


def downgrade() -> None:
    one_way(revision)

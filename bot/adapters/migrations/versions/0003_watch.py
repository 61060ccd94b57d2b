"""The watch: policies as last seen, its notices and its lease."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import one_way

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    conn = op.get_bind()
    for table in (schema.watch_seen, schema.watch_notices, schema.watch_lease):
        table.create(conn, checkfirst=True)


def downgrade() -> None:
    one_way(revision)

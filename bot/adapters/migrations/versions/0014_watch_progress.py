"""The watch's place in its cycle, its backup reads per policy, PlanetScale's budget shared."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import one_way

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    conn = op.get_bind()
    for table in (schema.watch_cursor, schema.watch_backup_reads, schema.planetscale_budget):
        table.create(conn, checkfirst=True)


def downgrade() -> None:
    one_way(revision)

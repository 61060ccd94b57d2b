"""Names and IDs from PlanetScale of any length."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import one_way

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # SQLite never enforced a VARCHAR's length; PostgreSQL refused a longer name than the column's.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, names in schema.OUTSIDE_TEXT_COLUMNS.items():
        for column in names:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE TEXT')


def downgrade() -> None:
    one_way(revision)

"""The inbox's times are the database's clock's (bot/adapters/store/inbox.py), so a write no longer knows the time
of the rows it wrote: each row keeps the token its write drew instead, for a write tried again to know its own."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.migrations.steps import columns

revision = "0020"
down_revision = "0019"


def upgrade() -> None:
    # Revision 0006 makes today's table for a new database; only a database made before this adds the column.
    if "written" not in columns(op.get_bind(), "deliveries"):
        op.add_column("deliveries", sa.Column("written", sa.String(16)))


def downgrade() -> None:
    # Back to revision 0019's schema: that release tells its rows by their time.
    op.drop_column("deliveries", "written")

"""What the watch's reads of backups left out, kept in the database: a restart forgot it and told it again."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema

revision = "0022"
down_revision = "0021"


def upgrade() -> None:
    schema.watch_backup_skips.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    # Back to revision 0021, which keeps them in memory: told again once after its start.
    schema.watch_backup_skips.drop(op.get_bind(), checkfirst=True)

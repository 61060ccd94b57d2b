"""Requests from Slack acted on once (replays, retries, several instances)."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import one_way

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    schema.deliveries.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    one_way(revision)

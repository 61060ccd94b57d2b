"""Requests that create or delete a policy, and the facts they were judged on."""

from __future__ import annotations

from alembic import op

from bot.adapters.migrations.steps import columns, one_way

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    # Every request stored before this step was an update; revision 0001 creates today's table for a new database.
    have = columns(op.get_bind(), "change_requests")
    if "kind" not in have:
        op.execute("ALTER TABLE change_requests ADD COLUMN kind VARCHAR(10) NOT NULL DEFAULT 'update'")
    if "facts" not in have:
        op.execute("ALTER TABLE change_requests ADD COLUMN facts JSON")


def downgrade() -> None:
    one_way(revision)

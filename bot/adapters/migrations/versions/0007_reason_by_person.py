"""Whether a request's reason was written by a person or by the bot."""

from __future__ import annotations

from alembic import op

from bot.adapters.migrations.steps import columns, one_way

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    # Requests stored before this step were asked with a person's reason or none, except reverts: the bot wrote
    # those ("revert of …"), so they never stand for the reason a guardrail's override asks.
    if "reason_by_person" not in columns(op.get_bind(), "change_requests"):
        op.execute("ALTER TABLE change_requests ADD COLUMN reason_by_person BOOLEAN NOT NULL DEFAULT TRUE")
        op.execute("UPDATE change_requests SET reason_by_person = FALSE WHERE reason LIKE 'revert of %'")


def downgrade() -> None:
    one_way(revision)

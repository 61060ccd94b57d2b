"""A closed request's end told until Slack takes it."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import columns, one_way

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    # The requests closed before this step were told as they closed, except the reverts revision 0010 cancelled
    # in the database alone: those are owed to their message, thread and requester, which the next sweep tells.
    requests = schema.change_requests
    if "told" not in columns(op.get_bind(), "change_requests"):
        op.execute("ALTER TABLE change_requests ADD COLUMN told BOOLEAN NOT NULL DEFAULT FALSE")
        op.execute("CREATE INDEX IF NOT EXISTS ix_change_requests_told ON change_requests (told)")
    op.get_bind().execute(
        requests.update()
        .where(requests.c.state.in_(("applied", "failed", "rejected", "cancelled", "expired")),
               requests.c.detail.is_distinct_from(schema.MIGRATION_10_CANCELLED))
        .values(told=True))


def downgrade() -> None:
    one_way(revision)

"""The approvals the judge counted when it decided a request, kept with it: a decided request shows those, not
everyone who clicked. And every pending request takes turns with the sweep's judging, approved or not: its
approvers may all leave their groups."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import columns

revision = "0019"
down_revision = "0018"


def upgrade() -> None:
    # Revision 0001 makes today's table for a new database; only a database made before this adds the column.
    # A request decided before it keeps none: it shows its approvals as that release did.
    if "counted" not in columns(op.get_bind(), "change_requests"):
        op.add_column("change_requests", sa.Column("counted", sa.JSON))
    requests = schema.change_requests
    op.get_bind().execute(requests.update().where(requests.c.state == "pending", requests.c.judge_at.is_(None))
                          .values(judge_at=0.0))


def downgrade() -> None:
    # Back to revision 0018's schema: a decided request shows every approval given, as that release did; a
    # pending one with no approval keeps its turn, which that release leaves alone.
    op.drop_column("change_requests", "counted")

"""The requests an older version left applying, marked so: only those may have sent a PATCH with no 'sending'
entry on the record (this version records it before a PATCH leaves)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import columns

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    # Revision 0001 makes today's table for a new database; only a database made before this adds the column.
    if "left_by_older" not in columns(op.get_bind(), "change_requests"):
        op.add_column("change_requests", sa.Column("left_by_older", sa.Boolean, nullable=False,
                                                   server_default=sa.false()))
    requests = schema.change_requests
    op.get_bind().execute(requests.update().where(requests.c.state == "applying").values(left_by_older=True))


def downgrade() -> None:
    # Back to revision 0016's schema: a request left applying by then is settled as that release settles any.
    op.drop_column("change_requests", "left_by_older")

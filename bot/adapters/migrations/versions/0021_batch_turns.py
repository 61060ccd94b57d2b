"""Every pending bulk change takes turns with the sweep's judging, approved or not, as a request does (revision
0019): the rules may come to refuse it whoever approves, and the sweep then closes it."""

from __future__ import annotations

from alembic import op

from bot.adapters import schema

revision = "0021"
down_revision = "0020"


def upgrade() -> None:
    batches = schema.change_batches
    op.get_bind().execute(batches.update().where(batches.c.state == "pending", batches.c.judge_at.is_(None))
                          .values(judge_at=0.0))


def downgrade() -> None:
    # Back to revision 0020: no schema change to undo. A batch closed as refused (state "refused") is one that
    # release cannot read: closed as expired, with nothing sent either way.
    batches = schema.change_batches
    op.get_bind().execute(batches.update().where(batches.c.state == "refused").values(state="expired"))

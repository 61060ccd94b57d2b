"""One open revert per change, across instances."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bot.adapters import schema
from bot.adapters.migrations.steps import one_way

revision = "0010"
down_revision = "0009"
log = logging.getLogger("bot.adapters.schema")


def upgrade() -> None:
    # Two instances could each ask a revert of the same change: all but one of such open reverts are cancelled
    # (one applying is kept, else the oldest; an applying one is never cancelled), so the index can hold.
    conn = op.get_bind()
    requests = schema.change_requests
    open_states = ("pending", "approved", "applying")
    rows = conn.execute(sa.select(requests.c.id, requests.c.revert_of, requests.c.state,
                                  requests.c.organization, requests.c.database)
                        .where(requests.c.revert_of.is_not(None), requests.c.state.in_(open_states))
                        .order_by(requests.c.created_at, requests.c.id)).mappings().all()
    kept: set[str] = set()
    for row in rows:
        if row["state"] != "applying":
            continue
        if row["revert_of"] not in kept:
            kept.add(row["revert_of"])
            continue
        # A second applying revert of one change (left by an older version) still settles from what PlanetScale
        # holds; only its link to the change is let go, so the index can hold. Its reason still names the change.
        conn.execute(requests.update().where(requests.c.id == row["id"]).values(revert_of=None))
        log.warning("request %s, a second revert of %s left applying, is kept without its link to it",
                    row["id"], row["revert_of"])
    for row in rows:
        if row["state"] == "applying":
            continue
        if row["revert_of"] not in kept:
            kept.add(row["revert_of"])
            continue
        detail = schema.MIGRATION_10_CANCELLED
        conn.execute(requests.update().where(requests.c.id == row["id"]).values(state="cancelled", detail=detail))
        conn.execute(schema.INSERT_EVENT, {
            "action": "cancelled", "actor": "backup-bot", "organization": row["organization"],
            "database": row["database"], "request_id": row["id"], "detail": detail,
            "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")})
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ux_open_revert ON change_requests (revert_of) "
               "WHERE revert_of IS NOT NULL AND state IN ('pending', 'approved', 'applying')")


def downgrade() -> None:
    one_way(revision)

"""What the revisions in versions/ share."""

from __future__ import annotations

from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def columns(conn: Connection, table: str) -> set[str]:
    """The columns `table` has now: a step adds a column only to a database made before revision 0001 made it."""
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def one_way(revision: str) -> NoReturn:
    # Only the newest revision goes back; before it, a backup taken before the upgrade is the way back.
    raise NotImplementedError(f"revision {revision} has no downgrade: restore the backup taken before upgrading")

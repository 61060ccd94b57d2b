"""How long a timer's transactions wait for a row another session holds (PostgreSQL)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# How long a timer's transaction (the sweep, the watch lease's heartbeat) waits for a row's lock on PostgreSQL: a row
# held longer is another session's (an operator's lock left open, a frozen instance), and what needs it is skipped
# until the timer's next run rather than waited for, one row after another, for LOCK_TIMEOUT_MS each.
TIMER_ROW_WAIT_MS = 500
# PostgreSQL's error for a lock not had within lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"
_row_waits = threading.local()


@contextlib.contextmanager
def brief_row_waits() -> Iterator[None]:
    """This thread's transactions begun meanwhile wait TIMER_ROW_WAIT_MS at most for a row's lock (PostgreSQL)."""
    before = getattr(_row_waits, "brief", False)
    _row_waits.brief = True
    try:
        yield
    finally:
        _row_waits.brief = before


def row_held(exc: BaseException) -> bool:
    """Whether `exc` is a lock not had in time: a row another session holds."""
    return getattr(getattr(exc, "orig", exc), "sqlstate", None) == LOCK_NOT_AVAILABLE


def wait_briefly_if_asked(conn: Connection) -> None:
    """At a transaction's start (PostgreSQL): this thread's lock wait, if `brief_row_waits` asks it shorter."""
    if getattr(_row_waits, "brief", False):
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {TIMER_ROW_WAIT_MS}")

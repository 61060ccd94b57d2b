"""The store's clock: the database's, so that instances whose wall clocks disagree (a host with no NTP, a VM
resumed) read each other's leases, claims and times on one clock."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# How long a reading of PostgreSQL's clock is moved on by this host's monotonic clock before it is read again (for
# the drift between the two, a few milliseconds a minute at worst), and how long after a failed read the next.
READ_AGAIN_SECONDS = 30.0
RETRY_SECONDS = 5.0
# A reading whose query took longer than this is off by up to half of it: the last reading is kept instead.
SLOWEST_TRIP_SECONDS = 1.0


class DatabaseClock:
    """PostgreSQL's time when last read (`clock_timestamp()`, half the round trip counted), moved on since by this
    host's monotonic clock, which no step of its wall clock moves. On SQLite, `wall`: the host's own clock, which
    every instance on one file shares. The first reading (`Connected.migrate` makes it) is waited for; the next
    ones are made beside, the callers going on with the last. Where PostgreSQL could never be read, `wall`."""

    def __init__(self, engine: Callable[[], Engine], postgresql: bool, wall: Callable[[], float] = time.time):
        self._engine = engine
        self._postgresql = postgresql
        self.wall = wall
        self._read: tuple[float, float] | None = None  # the database's time and this host's monotonic one, then
        self._tried = float("-inf")
        self._reading = threading.Lock()
        self._here = threading.local()
        self.closed = False  # the store closed: no connection opened again for a reading

    def __call__(self) -> float:
        if not self._postgresql:
            return self.wall()
        read = self._read
        if read is None:
            read = self.read()
        elif time.monotonic() - read[1] > READ_AGAIN_SECONDS and not self._reading.locked():
            threading.Thread(target=self.read, name="database-clock", daemon=True).start()
        return self.wall() if read is None else read[0] + (time.monotonic() - read[1])

    def read(self) -> tuple[float, float] | None:
        """Reads PostgreSQL's clock, unless another thread does (then waits for it), or a read failed within
        RETRY_SECONDS; the reading now, if any. A thread reading already (the store notes a refusal with its time,
        from within the failed read) takes the last."""
        if not self._postgresql or self.closed or getattr(self._here, "reading", False):
            return self._read
        with self._reading:
            fresh = self._read is not None and time.monotonic() - self._read[1] <= READ_AGAIN_SECONDS
            if fresh or time.monotonic() - self._tried < RETRY_SECONDS:
                return self._read
            self._tried = time.monotonic()
            self._here.reading = True
            try:
                import sqlalchemy as sa

                # Timed around the query alone: a wait for a connection, or its opening, is not half a round trip.
                with self._engine().connect() as conn:
                    began = time.monotonic()
                    now = float(conn.execute(sa.select(sa.extract("epoch", sa.func.clock_timestamp()))).scalar_one())
                    ended = time.monotonic()
                if ended - began <= SLOWEST_TRIP_SECONDS or self._read is None:
                    self._read = (now, (began + ended) / 2)
            except Exception as exc:
                log.warning("the database's clock could not be read (%s); %s", type(exc).__name__,
                            "the last reading goes on" if self._read else "this host's clock meanwhile")
            finally:
                self._here.reading = False
            return self._read

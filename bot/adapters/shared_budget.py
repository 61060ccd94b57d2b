"""PlanetScale's budget shared by every instance of the bot that uses one service token, on PostgreSQL (and by
`serve`'s processes on SQLite).

PlanetScale counts 600 requests a minute per service token, whichever process sends them. Each instance keeps the
same bucket as `RateLimiter` (a burst, then an even rate, under the budget in any window), but in one row of the
database: the theoretical arrival time of the next request (GCRA). Each request moves it with one conditional
statement, so two instances never take the same turn; a request whose turn is further away than `max_wait` takes
none and is refused as the local bucket refuses it. Only the threads that send requests wait on the database,
never the event loop. The time is the wall clock, shared by the instances (a clock ahead only slows the others).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

from bot.adapters.rate_limit import RateLimiter, too_long
from bot.adapters.store import Store
from bot.domain.ports import RateLimited

log = logging.getLogger(__name__)

RESERVE = """
INSERT INTO planetscale_budget (name, tat) VALUES (:name, :now + :interval)
ON CONFLICT (name) DO UPDATE SET tat = GREATEST(planetscale_budget.tat, :now) + :interval
WHERE GREATEST(planetscale_budget.tat, :now) + :interval - :window - :now <= :max_wait
RETURNING tat
"""
# SQLite's two-argument max() is PostgreSQL's GREATEST.
RESERVE_SQLITE = RESERVE.replace("GREATEST(", "MAX(")


class SharedRateLimiter(RateLimiter):
    def __init__(self, store: Store, token_id: str, requests: int, per: float, *, max_wait: float = 20.0,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None):
        super().__init__(requests, per, max_wait=max_wait, clock=clock or time.time, sleep=sleep)
        self.store = store
        self.name = hashlib.sha256(token_id.encode()).hexdigest()[:32]
        self.interval = 1 / self.rate
        self.window = self.burst * self.interval  # how far ahead of now the bucket's turns may run without a wait
        self._tat = 0.0  # the arrival time last seen in the database

    def __repr__(self) -> str:
        return f"SharedRateLimiter({self.requests} per {self.per:g} s)"

    @classmethod
    def sharing(cls, store: Store, token_id: str, local: RateLimiter) -> SharedRateLimiter:
        return cls(store, token_id, local.requests, local.per, max_wait=local.max_wait)

    def acquire(self) -> float:
        import sqlalchemy as sa

        now = self._clock()
        try:
            with self.store.engine.begin() as conn:
                reserve = RESERVE_SQLITE if conn.dialect.name == "sqlite" else RESERVE
                tat = conn.execute(sa.text(reserve), {"name": self.name, "now": now, "interval": self.interval,
                                                      "window": self.window, "max_wait": self.max_wait}).scalar()
                if tat is None:
                    latest = conn.execute(sa.text("SELECT tat FROM planetscale_budget WHERE name = :name"),
                                          {"name": self.name}).scalar()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("the shared PlanetScale budget could not be read (%s); this instance keeps its own part "
                        "of it meanwhile", type(getattr(exc, "orig", None) or exc).__name__)
            return super().acquire()
        if tat is None:
            self._tat = float(latest or now)
            raise RateLimited(too_long(self.requests, self.per, max(self._tat, now) + self.interval - self.window
                                       - now))
        self._tat = float(tat)
        wait = max(0.0, self._tat - self.window - now)
        self._wait(wait)
        return wait

    def backlog(self) -> float:
        return max(0.0, self._tat + self.interval - self.window - self._clock())

    def busy(self) -> bool:
        with self._lock:
            if self._waiting:
                return True
        return self._tat - self._clock() > self.window / 2

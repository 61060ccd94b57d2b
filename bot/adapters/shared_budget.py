"""PlanetScale's budget shared by every instance of the bot that uses one service token, on PostgreSQL (and by
`serve`'s processes on SQLite, through a SQLite file of its own beside the database: `budget_path`).

PlanetScale counts 600 requests a minute per service token, whichever process sends them. Each instance keeps the
same bucket as `RateLimiter` (a burst, then an even rate, under the budget in any window), but in one row of the
database: the theoretical arrival time of the next request (GCRA). Each request moves it with one conditional
statement, so two instances never take the same turn; a request whose turn is further away than `max_wait` takes
none and is refused as the local bucket refuses it. Only the threads that send requests wait on the database,
never the event loop. The time is the store's clock: the database's on PostgreSQL, so that a host whose wall clock is
ahead neither moves the next turn past the others' now (refusing them for as long) nor takes a fresh burst; on
SQLite the host's, which its processes share.

A database that refuses (or fails, or another session holds the row past ROW_WAIT_MS) stops no request: the
instance keeps to its share of the budget meanwhile, a bucket in memory, by the instances it last saw sharing the
row (rows of their own in the table, `name:instance`, whose time is when each last reserved a turn; those seen
within SEEN_FOR_SECONDS count; counted again when another session holds the row). A lone instance keeps the
whole budget, two each half; one that never reached the database takes a share of UNSEEN_INSTANCES. The share
starts from the last turn the row gave it, not a fresh burst, and the database is asked again every
RETRY_SECONDS; when it answers, what the instance took of its share meanwhile moves the row's turn on with its
first reservation, so that the shared bucket goes on where the instances' shares left it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bot.adapters.rate_limit import RateLimiter, too_long
from bot.adapters.store import Store
from bot.adapters.store.connection import SQLITE_BUSY_SECONDS, use_wal
from bot.adapters.store.row_waits import row_held
from bot.domain.ports import RateLimited

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# `owed`: what this instance took of its share while the database refused (0 otherwise), in the row's time.
RESERVE = """
INSERT INTO planetscale_budget (name, tat) VALUES (:name, :now + :interval + :owed)
ON CONFLICT (name) DO UPDATE SET tat = GREATEST(planetscale_budget.tat, :now) + :interval + :owed
WHERE GREATEST(planetscale_budget.tat, :now) + :interval + :owed - :window - :now <= :max_wait
RETURNING tat
"""
# SQLite's two-argument max() is PostgreSQL's GREATEST.
RESERVE_SQLITE = RESERVE.replace("GREATEST(", "MAX(")
# Each instance's row beside its token's (`name:instance`), its time when it last reserved a turn; the rows of
# instances unseen for a day are removed.
SEEN = """
INSERT INTO planetscale_budget (name, tat) VALUES (:me, :now) ON CONFLICT (name) DO UPDATE SET tat = :now
"""
SHARING = "SELECT count(*) FROM planetscale_budget WHERE name LIKE :others AND tat >= :since"
FORGET = "DELETE FROM planetscale_budget WHERE name LIKE :others AND tat < :forgotten"
# An instance marks itself at most this often, and counts among those sharing the budget for SEEN_FOR_SECONDS
# after: one that sent nothing for longer is counted again once it sends.
SEEN_EVERY_SECONDS = 10.0
SEEN_FOR_SECONDS = 3600.0
FORGOTTEN_SECONDS = 86400.0
# The instances an instance that never reached the database counts: itself and at least one other.
UNSEEN_INSTANCES = 2
# While the database refuses, how often it is asked again (the requests in between keep to the share).
RETRY_SECONDS = 5.0
# The budget's file on SQLite, made on first use; a table as the database's, where PostgreSQL keeps the budget.
BUDGET_TABLE = "CREATE TABLE IF NOT EXISTS planetscale_budget (name VARCHAR(64) PRIMARY KEY, tat FLOAT NOT NULL)"
# A reservation is one row's statement, done in milliseconds; one that took longer was held up (SQLite's busy
# handler, a stalled database), and that time is waited as much as a turn's sleep.
HELD_UP_SECONDS = 0.5
# How long a reservation waits for the row's lock on PostgreSQL. A process reserves one turn at a time, each holding
# the row for a statement's time, so a holder past this is none of the instances' turns (an operator's lock left
# open, an instance frozen inside its reservation): the instance keeps to its share meanwhile, as when the
# database refuses, instead of holding a person's command for the store's lock timeout.
ROW_WAIT_MS = 200


def budget_path(url: str) -> str | None:
    """Where the processes of one `serve` on the SQLite database at `url` share PlanetScale's budget: a file of
    its own beside the database's (its name and `-budget`), whose writes never wait for the database's one lock,
    nor make its writers (the inbox's, that acks wait for) wait. Nothing removes it: one row per service token.
    None where the budget is the database's own table (PostgreSQL) or nothing is shared (a database in memory)."""
    import sqlalchemy as sa

    if not url.startswith("sqlite"):
        return None
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-budget"


def budget_engine(path: str) -> Engine:
    """The budget file's engine: each statement a transaction of its own (the reservation is one statement)."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}", isolation_level="AUTOCOMMIT",
                              connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        use_wal(dbapi_connection)
        # A budget lost with the machine only lets the next start send its first burst at once.
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute(BUDGET_TABLE)

    return engine


class SharedRateLimiter(RateLimiter):
    def __init__(self, store: Store, token_id: str, requests: int, per: float, *, max_wait: float = 20.0,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None,
                 unseen: int = UNSEEN_INSTANCES):
        super().__init__(requests, per, max_wait=max_wait, clock=clock or store.clock, sleep=sleep)
        self.store = store
        self.name = hashlib.sha256(token_id.encode()).hexdigest()[:32]
        self.instance = uuid.uuid4().hex[:16]
        self.interval = 1 / self.rate
        self.window = self.burst * self.interval  # how far ahead of now the bucket's turns may run without a wait
        self._tat = 0.0  # the arrival time last seen in the database
        # The instances last seen sharing the row, this one among them (before the database first answers, a guess).
        self.sharing_with = max(1, unseen)
        self._seen_at = float("-inf")  # when this instance last marked itself in the table
        self._refused_at: float | None = None  # when the database last refused; None while it answers
        self._own: float | None = None  # the next turn of this instance's share, while the database refuses
        self.path = budget_path(store.url)
        self._file: Engine | None = None
        # This process's threads reserve one at a time: none in SQLite's busy handler, and on PostgreSQL the row's
        # lock waited for by one thread of each process at most.
        self._reserving = threading.Lock()

    def __repr__(self) -> str:
        return f"SharedRateLimiter({self.requests} per {self.per:g} s)"

    @classmethod
    def sharing(cls, store: Store, token_id: str, local: RateLimiter,
                unseen: int = UNSEEN_INSTANCES) -> SharedRateLimiter:
        return cls(store, token_id, local.requests, local.per, max_wait=local.max_wait, unseen=unseen)

    def acquire(self) -> float:
        asked = self._clock()
        with self._reserving:
            now = self._clock()  # the row's turn is taken at the time it is reserved, after another thread's
            with self._lock:
                refused = self._refused_at is not None and now - self._refused_at < RETRY_SECONDS
                owed = 0.0 if self._own is None else max(0.0, self._own - now) / self.sharing_with
            held, wait = (self._held_up(asked), None) if refused else self._reserve(asked, now, owed)
        if wait is None:
            return held + self._share()
        self._wait(wait)
        return held + wait

    def _reserve(self, asked: float, now: float, owed: float) -> tuple[float, float | None]:
        """A turn from the row: how long the reservation asked at `asked` was held up and how long to wait for the
        turn; no wait (None) when the database refused, and the turn is the share's. RateLimited past max_wait."""
        import sqlalchemy as sa

        sharing = None
        try:
            with self._connection() as conn:
                reserve = RESERVE_SQLITE if conn.dialect.name == "sqlite" else RESERVE
                tat = conn.execute(sa.text(reserve), {"name": self.name, "now": now, "interval": self.interval,
                                                      "owed": owed, "window": self.window,
                                                      "max_wait": self.max_wait}).scalar()
                if tat is None:
                    latest = conn.execute(sa.text("SELECT tat FROM planetscale_budget WHERE name = :name"),
                                          {"name": self.name}).scalar()
                sharing = self._mark(conn, now)
        except sa.exc.SQLAlchemyError as exc:
            sharing = self._counted(now) if row_held(exc) else None
            with self._lock:
                first, self._refused_at = self._refused_at is None, self._clock()
                self.sharing_with = max(1, sharing or self.sharing_with)
            if first:
                log.warning("the shared PlanetScale budget could not be read (%s); this instance keeps to its share "
                            "of it (1/%d) meanwhile", type(getattr(exc, "orig", None) or exc).__name__,
                            self.sharing_with)
            return self._held_up(asked), None
        held = self._held_up(asked)
        with self._lock:
            if self._refused_at is not None:
                log.info("the shared PlanetScale budget answers again; this instance shares it again")
            self._refused_at = None
            if sharing is not None:
                self.sharing_with = max(1, sharing)
            if tat is not None:
                self._own = None  # what it took meanwhile is on the row now
        if tat is None:
            self._tat = float(latest or now)
            raise RateLimited(too_long(self.requests, self.per, max(self._tat, now) + self.interval - self.window
                                       - now))
        self._tat = float(tat)
        return held, max(0.0, self._tat - self.window - now)

    def _counted(self, now: float) -> int | None:
        """How many instances share the row, counted now (the row held by another session, the database
        answering): the count seen last may be from before others started, and this instance's share is its
        part of the budget only while each instance takes its part of the same count. None if it cannot be."""
        import sqlalchemy as sa

        try:
            with self._connection() as conn:
                return self._mark(conn, now, always=True)
        except sa.exc.SQLAlchemyError:
            return None

    def _mark(self, conn: Connection, now: float, always: bool = False) -> int | None:
        """Marks this instance as sharing the row, every SEEN_EVERY_SECONDS (`always`: now); how many do, if it
        did."""
        import sqlalchemy as sa

        if now - self._seen_at < SEEN_EVERY_SECONDS and not always:
            return None
        others = f"{self.name}:%"
        conn.execute(sa.text(SEEN), {"me": f"{self.name}:{self.instance}", "now": now})
        conn.execute(sa.text(FORGET), {"others": others, "forgotten": now - FORGOTTEN_SECONDS})
        count = conn.execute(sa.text(SHARING), {"others": others, "since": now - SEEN_FOR_SECONDS}).scalar()
        self._seen_at = now
        return int(count or 1)

    def _share(self) -> float:
        """A turn of this instance's share of the budget, kept in memory while the database refuses: the same
        bucket, its turns `sharing_with` times as far apart, from the last turn the row gave."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat if self._own is None else self._own, now) + self.interval * self.sharing_with
            wait = tat - self.window - now
            if wait > self.max_wait:
                raise RateLimited(too_long(self.requests, self.per, wait))
            self._own = tat
        wait = max(0.0, wait)
        self._wait(wait)
        return wait

    def _held_up(self, since: float) -> float:
        """How long the reservation begun at `since` was held up; 0 for one that took a statement's time."""
        took = self._clock() - since
        return took if took >= HELD_UP_SECONDS else 0.0

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self.path is None:
            with self.store.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ROW_WAIT_MS}")
                yield conn
            return
        if self._file is None:
            self._file = budget_engine(self.path)
        with self._file.connect() as conn:
            yield conn

    def close(self) -> None:
        with self._reserving:
            if self._file is not None:
                self._file.dispose()
                self._file = None

    def _next(self) -> tuple[float, float]:
        """The next turn as this instance knows it, and the interval between turns: its share's while the database
        refuses, the row's otherwise."""
        with self._lock:
            if self._refused_at is not None and self._own is not None:
                return self._own, self.interval * self.sharing_with
            return self._tat, self.interval

    def backlog(self) -> float:
        tat, interval = self._next()
        return max(0.0, tat + interval - self.window - self._clock())

    def busy(self) -> bool:
        with self._lock:
            if self._waiting:
                return True
        return self._next()[0] - self._clock() > self.window / 2

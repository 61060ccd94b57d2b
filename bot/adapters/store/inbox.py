"""The durable inbox: the work of a request from Slack, written before its ack with the signed request, held by
the instance doing it under a lease it renews, and done in the transaction that stores what it made. When an
instance stops, its lapsed rows are taken over by another, which redoes each once from its body. Its times (when
work began, until when it is held) are the database's clock's, in every query: the instances' own clocks may
disagree by minutes (no NTP, a VM resumed), and work one is doing must not look lapsed or given up to another."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.adapters.store.connection import first_in_line, one_statement
from bot.adapters.store.rows import LEASE_DAMAGED, damaged, damaged_until

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

LEASE_SECONDS = 6.0
# The key an envelope's payload is kept under, in place of a signed body: over Socket Mode, Slack sends no
# signature (the connection is the app's own, opened with its token), and Bolt's request is the payload alone.
# Such a body begins with UNSIGNED (bot/runtime/app.py `inbox_payload`).
SOCKET_MODE = "socket_mode"
UNSIGNED = f'{{"{SOCKET_MODE}":'

# A writer's connection unused this long is given back to the pool and one taken and checked (a ping, one round
# trip, within the write's bound): while acks keep coming, each write is spared that round trip and the pool's checkout.
KEPT_SECONDS = 5.0
# A write on PostgreSQL that has not returned within this met a stalled network (the server's statement timeout
# never hears of it, and the kernel's retransmissions last minutes): its socket is shut, so the write fails at
# once and says so, and the acks' later writes are not queued behind it.
WRITE_SECONDS = 3.0


class InboxStalled(Exception):
    """The database did not answer an inbox write within WRITE_SECONDS, or could not be reached for it."""


def database_now(dialect: str, ahead: Any) -> ColumnElement[float]:
    """The database's clock in seconds since the epoch, `ahead` (seconds, an expression) added: PostgreSQL's
    transaction time (`now()`, stable, so the lease indexes serve), SQLite's time in its process (the same machine
    for every instance on one file)."""
    import sqlalchemy as sa

    if dialect == "postgresql":
        now: ColumnElement[float] = sa.cast(sa.extract("epoch", sa.func.now()), sa.Float)
    else:
        now = (sa.func.julianday("now") - 2440587.5) * 86400.0  # SQLite's 'now': one value for a whole statement
    return now + sa.cast(ahead, sa.Float)


@contextlib.contextmanager
def _bounded(conn: Connection, seconds: float) -> Iterator[list[bool]]:
    """Shuts `conn`'s socket (PostgreSQL) if what runs meanwhile has not returned within `seconds`: a read waiting
    on it fails at once. The list yielded holds True once it did."""
    fired: list[bool] = []
    if conn.dialect.name != "postgresql":
        yield fired
        return
    fd = conn.connection.dbapi_connection.pgconn.socket  # type: ignore[union-attr]

    def shut() -> None:
        fired.append(True)
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as same:
            same.shutdown(socket.SHUT_RDWR)  # of the socket itself, which the duplicate shares

    timer = threading.Timer(seconds, shut)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


@dataclass
class Working:
    """The inbox row of the work running on this context, and whether a store write has marked it done."""

    key: str
    done: bool = False


working_on: contextvars.ContextVar[Working | None] = contextvars.ContextVar("working_on", default=None)


def done_with(conn: Connection) -> None:
    """Marks the running work's row done within `conn`'s transaction: the row and what the work stored commit
    together, so a redo never follows a stored result."""
    working = working_on.get()
    if working is None or working.done:
        return
    _close(conn, working.key)
    working.done = True


def _close(conn: Connection, key: str) -> int:
    from bot.adapters.schema import deliveries

    return conn.execute(deliveries.update().where(deliveries.c.key == key, deliveries.c.body.is_not(None))
                        .values(body=None, holder=None, lease_until=None)).rowcount


@functools.cache
def _statements(dialect: str, again: bool = False) -> tuple[Any, Any]:
    """The inbox's writes, built once (SQLAlchemy then compiles each once): an INSERT that skips a key written
    already (ON CONFLICT DO NOTHING) and returns the keys it wrote, its times the database's (`database_now`), and
    the UPDATE that marks keys done. `again` (PostgreSQL): a write tried again after its connection dropped, which
    may have committed unseen; it returns too the keys that write wrote (the same holder and `written`, a token
    each write draws), which are still this caller's to do."""
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from bot.adapters.schema import deliveries

    now = database_now(dialect, sa.bindparam("ahead"))
    insert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(deliveries).values(
        key=sa.bindparam("key"), at=now, holder=sa.bindparam("holder"), written=sa.bindparam("written"),
        lease_until=now + sa.cast(sa.bindparam("lease"), sa.Float), body=sa.bindparam("body"))
    skipping = (insert.on_conflict_do_update(
        index_elements=[deliveries.c.key], set_={"key": insert.excluded.key},
        where=sa.and_(deliveries.c.holder == insert.excluded.holder,
                      deliveries.c.written == insert.excluded.written, deliveries.c.body.is_not(None))) if again
        else insert.on_conflict_do_nothing(index_elements=[deliveries.c.key]))
    return (skipping.returning(deliveries.c.key),
            deliveries.update().where(deliveries.c.key.in_(sa.bindparam("keys", expanding=True)),
                                      deliveries.c.body.is_not(None))
            .values(body=None, holder=None, lease_until=None))


def _write(conn: Connection, rows: list[dict[str, Any]], dones: list[str], again: bool = False) -> set[str]:
    """On PostgreSQL (autocommit) the dones commit first, then the rows in one statement: a write whose connection
    dropped is tried again (`Inbox.write`), as it may have committed; rows whose write raised otherwise were not
    written, so their requests act without them, exactly once (TrackedExecutor._written). On SQLite, one
    transaction, which takes the writer's lock at BEGIN; dones alone, one statement."""
    insert, close = _statements(conn.dialect.name, again)
    if conn.dialect.name != "postgresql" and not rows:  # dones alone (a worker's): one statement, no BEGIN
        if dones:
            with one_statement(), conn.begin():
                conn.execute(close, {"keys": dones})
        return set()
    with contextlib.nullcontext() if conn.dialect.name == "postgresql" else conn.begin():
        if dones:
            conn.execute(close, {"keys": dones})
        if not rows:
            return set()
        # One row (an ack alone, the most common write) as one statement, not as a batch of one.
        return set(conn.execute(insert, rows[0] if len(rows) == 1 else rows).scalars())


def _lapsed(now: ColumnElement[float]) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(past any lease, lapsed) of a delivery's lease at `now`. A damaged lease_until (none, or text, NaN,
    Infinity) is lapsed: no comparison with now frees it, and its work would never be redone."""
    import sqlalchemy as sa

    from bot.adapters.schema import deliveries

    past_any_lease = sa.or_(deliveries.c.lease_until.is_(None), damaged_until(deliveries.c.lease_until, now))
    return past_any_lease, sa.or_(deliveries.c.lease_until < now, past_any_lease)


def _ping(conn: Connection) -> None:
    """The pool's ping of a connection taken (PostgreSQL; on SQLite a statement would take the writer's lock and a
    file has no network), run within the write's bound: a connection the database dropped fails it, as the write
    would, and is written again on another."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT 1")


def _dropped(conn: Connection, exc: Exception) -> bool:
    """Whether `exc` says PostgreSQL ended the connection (SQLAlchemy's disconnect check)."""
    import sqlalchemy as sa

    return (conn.dialect.name == "postgresql" and isinstance(exc, sa.exc.DBAPIError)
            and bool(exc.connection_invalidated))


class Inbox:
    """One instance's view of the inbox; `holder` names the instance. Not a part of `Store`, whose calls are the
    listeners' own."""

    def __init__(self, engine: Callable[[], Engine], holder: str, lease: float = LEASE_SECONDS,
                 writer: Callable[[], Engine] | None = None, damaged: set[str] | None = None):
        self._engine = engine
        # The rows found damaged, as "<kind> <ID>" (the store's, which /healthz tells).
        self.damaged = set() if damaged is None else damaged
        # The engine `write` takes its connections from: one with no pool's ping (`Connected.writer`), as `write`
        # pings within its own bound.
        self._writer = writer or engine
        # Seconds added to the database's clock in every query: tests move the inbox's time on with it.
        self.ahead = 0.0
        self.holder = holder
        self.lease = lease
        self._kept = threading.local()  # each writing thread's connection, and when it was last used

    def take(self, key: str, body: str) -> bool:
        """Writes the work `key` with the request to redo it from: True for the one caller, on any instance, that
        may do it (a replay or a retry finds it taken)."""
        return key in self.write([(key, body)], [])

    def done(self, key: str) -> None:
        self.write([], [key])

    def write(self, takes: Sequence[tuple[str, str]], dones: Sequence[str]) -> set[str]:
        """With one commit for a burst of requests (`_write`), on a connection this thread keeps while it writes:
        writes each work of `takes`, a key and the request to redo it from, and marks the work `dones` done. The
        keys of `takes` this caller may do: those no replay or retry, here or on another instance, wrote first."""
        written = secrets.token_hex(8)
        # In the order of their keys, so that two instances writing the same keys never wait on each other.
        rows = [self._row(key, body, written)
                for key, body in sorted({key: body for key, body in reversed(takes)}.items())]
        began = time.monotonic()
        try:
            conn, checked = self._connection()
        except Exception as exc:
            raise InboxStalled(f"the database could not be reached for the inbox's write ({type(exc).__name__})") \
                from exc
        try:
            with first_in_line(acks_wait=bool(rows)):
                stalled: list[bool] = []
                try:
                    with _bounded(conn, WRITE_SECONDS - (time.monotonic() - began)) as stalled:
                        if not checked:
                            _ping(conn)
                        return _write(conn, rows, sorted(set(dones)))
                except Exception as exc:
                    if stalled:
                        raise InboxStalled(f"the database did not answer the inbox's write within "
                                           f"{WRITE_SECONDS:g} s (a stalled network?)") from exc
                    if not _dropped(conn, exc):
                        raise
                # PostgreSQL ended the connection (a restart, a failover, a pooler's limit: the kept one is spared
                # the pool's ping), maybe after committing the write: once more on a checked one, which returns
                # the keys the dropped write committed too.
                log.info("the inbox's connection was dropped by the database; writing again on another")
                with contextlib.suppress(Exception):
                    conn.close()
                began = time.monotonic()
                conn, _ = self._connection(fresh=True)
                with _bounded(conn, WRITE_SECONDS - (time.monotonic() - began)) as stalled:
                    try:
                        return _write(conn, rows, sorted(set(dones)), again=True)
                    except Exception as exc:
                        if stalled:
                            raise InboxStalled(f"the database did not answer the inbox's write within "
                                               f"{WRITE_SECONDS:g} s (a stalled network?)") from exc
                        raise
        except BaseException:
            self._kept.conn = None
            with contextlib.suppress(Exception):  # a connection already broken: the pool drops it
                conn.close()
            raise
        finally:
            self._kept.used = time.monotonic()

    def _row(self, key: str, body: str, written: str) -> dict[str, Any]:
        return {"key": key, "holder": self.holder, "written": written, "body": body, "ahead": self.ahead,
                "lease": self.lease}

    def _now(self, conn: Connection) -> ColumnElement[float]:
        import sqlalchemy as sa

        return database_now(conn.dialect.name, sa.literal(self.ahead))

    def _connection(self, fresh: bool = False) -> tuple[Connection, bool]:
        """This thread's connection, and whether it is the one kept from a write a moment ago (spared the ping).
        A connection is opened within the writer's own connect timeout (`Connected.writer`)."""
        conn: Connection | None = None if fresh else getattr(self._kept, "conn", None)
        if conn is not None and time.monotonic() - self._kept.used > KEPT_SECONDS:
            conn.close()
            conn = None
        if conn is not None:
            return conn, True
        conn = self._kept.conn = self._writer().connect()
        if conn.dialect.name == "postgresql":
            # Each statement commits on its own: one round trip for a burst's rows, not BEGIN, INSERT, COMMIT.
            conn = self._kept.conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn, False

    def release(self) -> None:
        """Gives back the connection this thread keeps between its writes: a thread that ends keeps it open until
        the garbage collector finds it, past the store's close."""
        conn, self._kept.conn = getattr(self._kept, "conn", None), None
        if conn is not None:
            with contextlib.suppress(Exception):  # a connection already broken: the pool drops it
                conn.close()

    def take_again(self, key: str, body: str) -> bool:
        """After a write of `key` that met a stalled database (InboxStalled), on the caller's thread, which waits for
        the database as the work's other steps would: True when the work is this caller's, its row written now or
        by the stalled write, which may have landed unseen (this instance's and not done); False when another
        caller wrote it first."""
        import sqlalchemy as sa
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        from bot.adapters.schema import deliveries

        with self._engine().begin() as conn:
            now = self._now(conn)
            insert = (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(deliveries).values(
                key=key, at=now, holder=self.holder, written=secrets.token_hex(8), lease_until=now + self.lease,
                body=body)
            ours = insert.on_conflict_do_update(
                index_elements=[deliveries.c.key], set_={"lease_until": insert.excluded.lease_until},
                where=sa.and_(deliveries.c.holder == insert.excluded.holder, deliveries.c.body.is_not(None)))
            return conn.execute(ours.returning(deliveries.c.key)).first() is not None

    def renew(self) -> int:
        """Extends the leases of the work this instance is doing; the number of rows. A row another session holds
        locked (an operator's lock, another instance looking at it) is left for the next renewal: waiting for it,
        past the lock timeout, would fail the renewal of every other row, and another instance would take over
        their work while it is under way here (and cannot take the locked one meanwhile). On the writer's engine,
        whose connections the work's own steps never hold: work waiting on a slow database may hold every
        connection of the store's pool, and a renewal waiting for one of them would let the leases lapse."""
        import sqlalchemy as sa

        from bot.adapters.schema import deliveries

        mine = (sa.select(deliveries.c.key).where(deliveries.c.holder == self.holder, deliveries.c.body.is_not(None))
                .with_for_update(skip_locked=True))
        for again in (False, True):
            # No pool's ping on the writer's engine: a connection PostgreSQL ended (a restart, a failover) fails
            # the renewal, once, and the pool it invalidates gives a new one. Renewing twice is renewing.
            try:
                with self._writer().begin() as conn:
                    return conn.execute(deliveries.update().where(deliveries.c.key.in_(mine.scalar_subquery()))
                                        .values(lease_until=self._now(conn) + self.lease)).rowcount
            except sa.exc.DBAPIError as exc:
                if again or not exc.connection_invalidated:
                    raise
                log.info("the inbox's leases met a connection the database had ended; renewing on another")
        raise AssertionError("unreachable")  # pragma: no cover

    def take_over(self, unsigned: bool = True) -> list[tuple[str, str]]:
        """Rows whose instance stopped renewing them, each taken by this instance once ever (a conditional
        update): their keys and bodies, to redo. Never this instance's own: it is running, and a row it wrote
        while the database stalled may land with its lease already past, its work still under way here. Not
        `unsigned`: an instance that redoes only signed requests leaves Socket Mode's for one that redoes them."""
        import sqlalchemy as sa

        from bot.adapters.schema import deliveries

        taken: list[tuple[str, str]] = []
        with self._engine().begin() as conn:
            now = self._now(conn)
            past_any_lease, lease_lapsed = _lapsed(now)
            lapsed = sa.and_(
                deliveries.c.body.is_not(None), lease_lapsed,
                deliveries.c.handed_again.is_(sa.false()), deliveries.c.holder != self.holder,
                sa.true() if unsigned else sa.not_(deliveries.c.body.startswith(UNSIGNED, autoescape=True)))
            # A row another session holds locked (another instance taking it, an operator's lock) is left for the
            # next step: waiting for it, past the lock timeout, would fail the step for every other row.
            rows = conn.execute(sa.select(deliveries.c.key, deliveries.c.body, past_any_lease).where(lapsed)
                                .order_by(deliveries.c.at).with_for_update(skip_locked=True)).all()
            for key, body, was_damaged in rows:
                if conn.execute(deliveries.update().where(deliveries.c.key == key, lapsed).values(
                        holder=self.holder, lease_until=now + self.lease, handed_again=True)).rowcount:
                    taken.append((key, body))
                    if was_damaged:
                        damaged(self.damaged, "inbox lease", key, LEASE_DAMAGED)
        return taken

    def close_older(self, seconds: float) -> list[tuple[str, str | None, str | None]]:
        """Closes work begun more than `seconds` ago and still not done (redone already, or past any redo): its
        keys, last holders and, where no instance held it any more (its lease lapsed), the request it was for, to
        tell its person; each returned to the one caller, on any instance, whose update closed it."""
        import sqlalchemy as sa

        from bot.adapters.schema import deliveries

        closed: list[tuple[str, str | None, str | None]] = []
        with self._engine().begin() as conn:
            now = self._now(conn)
            old = sa.and_(deliveries.c.body.is_not(None), deliveries.c.at < now - seconds)
            past_any_lease, lapsed = _lapsed(now)
            rows = conn.execute(sa.select(deliveries.c.key, deliveries.c.holder, deliveries.c.body, lapsed,
                                          past_any_lease).where(old).order_by(deliveries.c.at)
                                .with_for_update(skip_locked=True)).all()  # as take_over's
            for key, holder, body, was_lapsed, was_damaged in rows:
                if conn.execute(deliveries.update().where(deliveries.c.key == key, old).values(
                        body=None, holder=None, lease_until=None)).rowcount:
                    if was_damaged:
                        damaged(self.damaged, "inbox lease", key, LEASE_DAMAGED)
                    # Work an instance still holds is under way there: its own answer reaches its person.
                    closed.append((key, holder, body if was_lapsed else None))
        return closed

"""The database's engine, made on first use, and its schema's version."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bot.adapters.store.clock import DatabaseClock
from bot.adapters.store.crowding import STORE_POOL, WRITER_POOL, connections_refused
from bot.adapters.store.row_waits import wait_briefly_if_asked
from bot.adapters.store.sqlite_file import file_gone, file_identity, sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


def database_url(url: str) -> str:
    """SQLAlchemy's URL for a setting: `postgresql://` goes through psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


# PostgreSQL's bounds on one statement and on its wait for a lock (milliseconds): a database that stops answering
# (a table held by another session) ends the statement with an error instead of stalling its caller (and the
# watch, whose heartbeat would keep the lease meanwhile). The migration lifts them in its own transaction.
STATEMENT_TIMEOUT_MS = 30_000
LOCK_TIMEOUT_MS = 5_000
# A session idle inside its transaction this long is ended by PostgreSQL: its process was frozen (SIGSTOP, a paused
# VM) between two statements, and would hold its row locks (a claim's lease row) from every other instance for as
# long as it stays frozen. No transaction of the bot waits on anything but its own statements.
IDLE_IN_TRANSACTION_MS = STATEMENT_TIMEOUT_MS
# A network that drops packets (not refuses them) is met by no statement timeout, which the server keeps: libpq's
# TCP settings end such a connection instead. Data sent and not acknowledged for TCP_USER_TIMEOUT_MS fails it, and
# a connection waiting for an answer is probed after KEEPALIVE_IDLE_SECONDS of silence, every
# KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_COUNT times. CONNECT_TIMEOUT_SECONDS bounds a connection's opening.
TCP_USER_TIMEOUT_MS = 5_000
KEEPALIVE_IDLE_SECONDS, KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_COUNT = 10, 2, 3
CONNECT_TIMEOUT_SECONDS = 5
# The inbox writer's bound on opening a connection (libpq counts whole seconds): within the bound of its write
# (inbox.WRITE_SECONDS), which the acks' later writes wait behind.
WRITER_CONNECT_TIMEOUT_SECONDS = 3
# How long a SQLite transaction waits for the one writing before it (SQLite's busy timeout).
SQLITE_BUSY_SECONDS = 30.0
# How often the inbox's write that acks wait for tries again for SQLite's lock while another process (a worker)
# holds it, for its first PROMPT_SECONDS of waiting; then every PATIENT_SECONDS.
RETRY_SECONDS, PROMPT_SECONDS, PATIENT_SECONDS = 0.0002, 0.05, 0.002
# An execution option: a connection that only reads, which on SQLite takes no writer's lock (a deferred BEGIN, a
# snapshot of the WAL, not BEGIN IMMEDIATE).
READ_ONLY = "backup_bot_read_only"


# How a database that still answers says it takes no writes: SQLite's file or volume read-only, its disk full or
# failing; PostgreSQL failed over to a standby (a read-only transaction), its disk full.
SQLITE_REFUSALS = ("SQLITE_READONLY", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN")
POSTGRES_REFUSALS = frozenset({"25006", "53100"})
# How long `healthy` says so after the last write refused: the inbox keeper writes every few seconds, so a database
# that goes on refusing is said to, and one that takes writes again is healthy within this.
REFUSAL_SHOWN_SECONDS = 60.0


def refusal(exc: BaseException) -> str | None:
    """The reason a database error says it takes no writes now, in its own words; None for any other error."""
    name = getattr(exc, "sqlite_errorname", None)
    if (isinstance(name, str) and name.startswith(SQLITE_REFUSALS)) or \
            getattr(exc, "sqlstate", None) in POSTGRES_REFUSALS:
        return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return None


def use_wal(connection: sqlite3.Connection) -> None:
    """Put the database in WAL mode. Two processes opening a new database at once both switch it, and SQLite
    answers the second one "database is locked" at once, without its busy handler: it tries again."""
    while_busy(connection, "PRAGMA journal_mode=WAL", lambda waited: PATIENT_SECONDS)


def while_busy(connection: sqlite3.Connection, statement: str, pause: Callable[[float], float]) -> None:
    """Run `statement`, trying again after `pause(seconds waited)` while SQLite answers it busy, up to its bound."""
    start = time.monotonic()
    while True:
        try:
            connection.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            waited = time.monotonic() - start
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # SQLITE_BUSY_RECOVERY too
            if not busy or waited > SQLITE_BUSY_SECONDS:
                raise
        time.sleep(pause(waited))


class Turns:
    """The turn to write to one SQLite database, in this process: one at a time, and those first in line (the
    inbox's writer, whose commit each ack waits for) before the others (the work after the acks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first = threading.Condition(self._lock)
        self._others = threading.Condition(self._lock)
        self._taken = False
        self._first_waiting = self._others_waiting = 0

    def take(self, timeout: float) -> bool:
        first = getattr(_in_line, "first", False)
        with self._lock:
            if first:
                self._first_waiting += 1
                try:
                    if not self._first.wait_for(lambda: not self._taken, timeout):
                        if not self._taken and not self._first_waiting - 1:
                            self._others.notify()  # the turn it was woken for, if any, passes on
                        return False
                finally:
                    self._first_waiting -= 1
            else:
                self._others_waiting += 1
                try:
                    if not self._others.wait_for(lambda: not self._taken and not self._first_waiting, timeout):
                        return False
                finally:
                    self._others_waiting -= 1
            self._taken = True
            return True

    @property
    def waiting(self) -> tuple[int, int]:
        """How many wait for a turn: first in line, and the others."""
        with self._lock:
            return self._first_waiting, self._others_waiting

    def give_back(self) -> None:
        with self._lock:
            self._taken = False
            # One waiter woken, not all: the rest would only wake to wait again.
            (self._first if self._first_waiting else self._others).notify()


_in_line = threading.local()


@contextlib.contextmanager
def first_in_line(acks_wait: bool = False) -> Iterator[None]:
    """SQLite transactions begun on this thread meanwhile take the next turn to write before the others; if
    `acks_wait` (for their commit), they also try again promptly for the lock another process holds."""
    _in_line.first, _in_line.prompt = True, acks_wait
    try:
        yield
    finally:
        _in_line.first = _in_line.prompt = False


@contextlib.contextmanager
def one_statement() -> Iterator[None]:
    """A SQLite write begun on this thread meanwhile is one statement, committed by SQLite as it ends (no BEGIN
    nor COMMIT): SQLite's lock is held only while it runs, not while Python goes between statements, where a
    niced worker may lose the CPU with the lock held and the acks' writes wait for it."""
    _in_line.alone = True
    try:
        yield
    finally:
        _in_line.alone = False


# Per SQLite database of this process: the turns to write (see TakingTurns).
_turns: dict[str, Turns] = {}
_turns_lock = threading.Lock()


def taking_turns(url: str) -> type[sqlite3.Connection]:
    """The connection class for the SQLite database at `url`: its transactions take turns."""
    with _turns_lock:
        turns = _turns.setdefault(url, Turns())
    return type("TakingTurns", (TakingTurns,), {"turns": turns})


class TakingTurns(sqlite3.Connection):
    """A SQLite connection whose transactions (each a writer's: BEGIN IMMEDIATE) wait for their turn in this
    process first. A writer waiting there wakes as the one before it commits; waiting in SQLite's busy handler
    instead, it would sleep between tries, up to 100 ms each, long after the lock is free, and the acks' inbox
    rows would wait behind every write of the work after earlier acks. Between processes (`serve`'s workers, a
    CLI command), the write acks wait for tries again every RETRY_SECONDS, where the busy handler sleeps 1, 2, 5,
    10 ms... between its tries, long after another process's short transaction has ended; the others (a worker's
    done marks included) keep the busy handler, which leaves it the lock first."""

    turns: Turns
    holding = False
    # The file this connection opened (`file_identity`), to tell it from one put at its path since.
    opened: tuple[int, int] | None = None
    # SQLite's busy handler is off (a prompt writer's): left so while the same writer begins again, which a stream
    # of the inbox's writes does, and set back before anything else begins on this connection.
    prompt = False

    def begin_immediate(self) -> None:
        self.holding = self.turns.take(timeout=SQLITE_BUSY_SECONDS)
        try:
            if getattr(_in_line, "alone", False):
                self.patient()  # no BEGIN: the one statement is its own transaction
            elif getattr(_in_line, "prompt", False):
                self._begin_promptly()
            else:
                self.patient()
                self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._end_turn()
            raise

    def patient(self) -> None:
        """SQLite's busy handler back on, if a prompt writer turned it off."""
        if self.prompt:
            self.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000:.0f}")
            self.prompt = False

    def _begin_promptly(self) -> None:
        if not self.prompt:
            self.execute("PRAGMA busy_timeout=0")
            self.prompt = True
        while_busy(self, "BEGIN IMMEDIATE",
                   lambda waited: RETRY_SECONDS if waited < PROMPT_SECONDS else PATIENT_SECONDS)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()

    def _end_turn(self) -> None:
        if self.holding:
            self.holding = False
            self.turns.give_back()


class Connected:
    """What every part of the store stands on: the engine, once the schema is current, and the clock: `clock` if
    given (tests), else the database's (`DatabaseClock`), `wall` being this host's own."""

    def __init__(self, url: str, clock: Callable[[], float] | None = None, wall: Callable[[], float] = time.time):
        self.url = database_url(url)
        self.clock = clock or DatabaseClock(self._connect, self.url.startswith("postgresql"), wall)
        self.ready = threading.Event()
        self.ready.set()
        self._engine: Engine | None = None
        self._reader: Engine | None = None
        self._writer: Engine | None = None
        self._lock = threading.Lock()
        # When the database last refused a write, and why (`refusal`).
        self.refused: tuple[float, str] | None = None
        # When PostgreSQL last refused this process a connection, and why (`connections_refused`).
        self.crowded: tuple[float, str] | None = None
        # The SQLite file the first connection opened (`file_identity`), and those opened since.
        self.opened: list[tuple[int, int] | None] = []
        # The rows skipped because their JSON does not decode, as "<kind> <ID>" (store/rows.py `damaged`).
        self.damaged: set[str] = set()

    @property
    def engine(self) -> Engine:
        self.ready.wait()
        return self._connect()

    @property
    def reader(self) -> Engine:
        """The engine for connections that only read. On SQLite they take no writer's lock: a read of the work
        after an ack (a niced worker's, on busy cores) never holds the inbox write that ack waits for."""
        engine = self.engine
        if self._reader is None:
            self._reader = engine.execution_options(**{READ_ONLY: True})
        return self._reader

    @property
    def writer(self) -> Engine:
        """The inbox writer's engine (PostgreSQL; on SQLite the engine itself): no pool's ping at a checkout, which
        waits on a stalled network as long as the kernel lets it; the inbox pings within its write's bound."""
        self.ready.wait()
        return self._writer_engine()

    def _writer_engine(self) -> Engine:
        engine = self._connect()
        if engine.dialect.name != "postgresql":
            return engine
        with self._lock:
            if self._writer is None:
                self._writer = self._create_engine(False, WRITER_CONNECT_TIMEOUT_SECONDS, WRITER_POOL)
        return self._writer

    def _connect(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._create_engine()
        return self._engine

    def _create_engine(self, pre_ping: bool = True, connect_seconds: int = CONNECT_TIMEOUT_SECONDS,
                       pool: tuple[int, int] = STORE_POOL) -> Engine:
        import sqlalchemy as sa

        sqlite = self.url.startswith("sqlite")
        path = sqlite_path(self.url) if sqlite else None
        engine: Engine = sa.create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS,
                          "factory": taking_turns(self.url)} if sqlite else {
                "connect_timeout": connect_seconds,
                "keepalives": 1,
                "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
                "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
                "keepalives_count": KEEPALIVE_COUNT,
                "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS} "
                           f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
            },
            pool_pre_ping=pre_ping and not sqlite, **({} if sqlite else dict(pool_size=pool[0], max_overflow=pool[1])),
            # An error's text reaches logs: it names the statement, never a request's body or a typed value.
            hide_parameters=True,
        )

        @sa.event.listens_for(engine, "handle_error")
        def _on_error(context: Any) -> None:
            self._note(context.original_exception)

        if not sqlite:
            sa.event.listen(engine, "begin", wait_briefly_if_asked)
        else:
            # Writers take the lock at BEGIN, so conditional updates never meet a stale snapshot.
            @sa.event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _: Any) -> None:
                dbapi_connection.isolation_level = None
                use_wal(dbapi_connection)
                # Durable across a crash of the process (kill -9 included); only a crash of the machine may
                # lose the last commits. SQLite's advice for WAL; several instances belong on PostgreSQL.
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")
                dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000:.0f}")
                # The file the engine's first connection opened: a later one opening the path after it was
                # deleted made a new, empty file there.
                if path is not None:
                    self.opened.append(file_identity(path))
                    dbapi_connection.opened = self.opened[0]

            @sa.event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                dbapi_connection = conn.connection.dbapi_connection
                assert isinstance(dbapi_connection, TakingTurns)
                if path is not None and dbapi_connection.opened != file_identity(path):
                    gone = file_gone(path)
                    self._note(gone)
                    raise sa.exc.OperationalError("BEGIN", None, gone)
                if conn.get_execution_options().get(READ_ONLY):
                    # One snapshot for the reads, and no writer waits for them (WAL).
                    dbapi_connection.patient()
                    dbapi_connection.execute("BEGIN DEFERRED")
                    return
                try:
                    dbapi_connection.begin_immediate()
                except sqlite3.Error as exc:  # raised in an event, which handle_error does not see
                    self._note(exc)
                    raise

        return engine

    def _note(self, exc: BaseException) -> None:
        reason = refusal(exc)
        if reason is not None:
            self.refused = (self.clock(), reason)
        crowded = connections_refused(exc)
        if crowded is not None:
            self.crowded = (self.clock(), crowded)

    def crowded_out(self) -> str | None:
        """Why PostgreSQL refused this process a connection within the last REFUSAL_SHOWN_SECONDS; None if not."""
        crowded = self.crowded
        if crowded is None or self.clock() - crowded[0] >= REFUSAL_SHOWN_SECONDS:
            return None
        return (f"PostgreSQL refuses the bot's connections ({crowded[1]}): work waits or fails; raise the role's, "
                "the database's or the server's connection limit, or run fewer instances or BACKUP_BOT_WORKERS")

    def close(self) -> None:
        if isinstance(self.clock, DatabaseClock):
            self.clock.closed = True
        if self._writer is not None:
            self._writer.dispose()
        if self._engine is not None:
            self._engine.dispose()

    def migrate(self) -> int:
        """Bring the schema to the newest revision; safe when several instances start at once. A schema found
        current by a read is left alone, and no writer waits for its check (on SQLite, the lock a migration takes
        would hold the writes of the first requests' work). The inbox writer's first connection is opened with it:
        the first ack's write finds it made (SQLAlchemy's first connection of an engine asks the server a few
        questions more)."""
        version = self._migrate()
        if isinstance(self.clock, DatabaseClock):
            self.clock.read()  # the first reading, before any work asks the time
        writer = self._writer_engine()
        if writer.dialect.name == "postgresql":
            with writer.connect():
                pass
        return version

    def _migrate(self) -> int:
        from bot.adapters import migrations

        engine = self._connect()  # SQLAlchemy whole first, as other threads import it: then Alembic's parts of it
        latest = migrations.head()
        with engine.connect() as conn:
            at = migrations.current(conn.execution_options(**{READ_ONLY: True}))
        if at == latest:
            return at
        if at > latest:
            raise migrations.SchemaAhead(at, latest)
        with self._connect().begin() as conn:
            if conn.dialect.name == "postgresql":
                # Another instance may hold the lock for as long as its migrations take.
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
                conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            return migrations.upgrade(conn)

    def version(self) -> int:
        """The schema's version (its Alembic revision's number); 0 for a database never migrated."""
        from bot.adapters import migrations

        with self.reader.connect() as conn:
            return migrations.current(conn)

    def write_refusal(self) -> str | None:
        """Why the database refuses writes (`refusal`: read-only, full), tried now; None when it takes them. Nothing
        is written: the one write tried, the schema's version set to itself, is rolled back. Never waits for
        another process's write: on SQLite a lock held elsewhere answers busy at once (no refusal), and on
        PostgreSQL the row's lock is waited for no longer than LOCK_TIMEOUT_MS."""
        import sqlalchemy as sa

        probe = "UPDATE alembic_version SET version_num = version_num"
        try:
            if self.url.startswith("sqlite"):
                uri = sa.engine.make_url(self.url).query.get("uri") == "true"  # its mode=ro among the rest
                target = self.url.split("///", 1)[-1] if uri else sa.engine.make_url(self.url).database
                with contextlib.closing(sqlite3.connect(target or ":memory:", timeout=0, isolation_level=None,
                                                        uri=uri)) as raw:
                    raw.execute("BEGIN")
                    raw.execute(probe)
                    raw.execute("ROLLBACK")
                return None
            with self.engine.connect() as conn, conn.begin() as transaction:
                conn.exec_driver_sql(probe)
                transaction.rollback()
        except Exception as exc:  # a refusal, or any other error (told by the reads that fail the same way)
            return refusal(getattr(exc, "orig", None) or exc)
        return None

    def file_gone(self) -> str | None:
        """Why the SQLite file at the URL's path is not the one this store opened first; None if it is."""
        path = sqlite_path(self.url) if self.url.startswith("sqlite") else None
        if path is None or not self.opened or file_identity(path) == self.opened[0]:
            return None
        return str(file_gone(path))

    def healthy(self) -> tuple[bool, str]:
        import sqlalchemy as sa

        from bot.adapters import migrations

        gone = self.file_gone()
        if gone is not None:
            return False, f"the database refuses writes ({gone}): no change or acked request can be recorded"
        try:
            version = self.version()
        except sa.exc.SQLAlchemyError as exc:
            return False, f"database unreachable: {type(getattr(exc, 'orig', None) or exc).__name__}"
        latest = migrations.head()
        if version < latest:
            return False, f"schema at version {version}, needs {latest}: run `backup-bot migrate`"
        refused = self.refused
        if refused is not None and self.clock() - refused[0] < REFUSAL_SHOWN_SECONDS:
            return False, f"the database refuses writes ({refused[1]}): no change or acked request can be recorded"
        crowded = self.crowded_out()
        if crowded is not None:
            return False, crowded
        return True, f"schema version {version}"

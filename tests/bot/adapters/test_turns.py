"""SQLite's writers in one process take turns (bot/adapters/store/connection.py): one at a time, woken as the one
before them commits, and the inbox's writer, whose commit each ack waits for, before the others."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.adapters.schema import deliveries
from bot.adapters.store import Store, connection
from bot.adapters.store.connection import SQLITE_BUSY_SECONDS, TakingTurns, Turns, first_in_line
from bot.adapters.store.inbox import Inbox


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    yield store
    store.close()


def turns_of(store: Store) -> Turns:
    with store.engine.connect() as conn:
        connection = conn.connection.dbapi_connection
        assert isinstance(connection, TakingTurns)
        return connection.turns


def until(condition: Callable[[], bool]) -> None:
    pause = threading.Event()
    for _ in range(3000):
        if condition():
            return
        pause.wait(0.01)
    raise AssertionError("never came true")


def test_the_inbox_writer_takes_the_next_turn_before_those_waiting_longer(sqlite_store: Store) -> None:
    turns, order = turns_of(sqlite_store), []

    def write(name: str, first: bool) -> None:
        with first_in_line() if first else contextlib.nullcontext(), sqlite_store.engine.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
            order.append(name)

    with sqlite_store.engine.begin():
        workers = [threading.Thread(target=write, args=(f"work {i}", False)) for i in range(3)]
        for worker in workers:
            worker.start()
        until(lambda: turns.waiting == (0, 3))
        inbox = threading.Thread(target=write, args=("inbox", True))
        inbox.start()
        until(lambda: turns.waiting == (1, 3))
    for thread in [*workers, inbox]:
        thread.join(30)
    assert order[0] == "inbox" and sorted(order[1:]) == ["work 0", "work 1", "work 2"]
    assert turns.waiting == (0, 0)


def test_a_transaction_that_fails_gives_its_turn_back(sqlite_store: Store) -> None:
    turns = turns_of(sqlite_store)
    with pytest.raises(sa.exc.OperationalError), sqlite_store.engine.begin() as conn:
        conn.execute(sa.text("SELECT no_such_column FROM deliveries"))
    assert turns.take(timeout=0)
    turns.give_back()


def another_process_writing(path: Path) -> sqlite3.Connection:
    """A connection outside this process's turns (as a worker's or a CLI command's), holding SQLite's lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_the_inbox_writer_gets_the_lock_as_soon_as_another_process_commits(sqlite_store: Store,
                                                                           tmp_path: Path) -> None:
    inbox, written = Inbox(lambda: sqlite_store.engine, "front:1"), threading.Event()
    other = another_process_writing(tmp_path / "bot.db")
    writer = threading.Thread(target=lambda: inbox.take("k:1", "body") and written.set())
    writer.start()
    assert not written.wait(0.3)  # still waiting for the other process: SQLite has one writer at a time
    other.commit()
    assert written.wait(30)
    writer.join(30)
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(sa.select(deliveries.c.key)).scalars().all() == ["k:1"]
        # Its connection waits as long as before for the others' writes.
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_SECONDS * 1000
    other.close()


def test_the_inbox_writer_gives_up_as_sqlite_would_and_gives_its_turn_back(
        sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "SQLITE_BUSY_SECONDS", 0.2)
    inbox, turns = Inbox(lambda: sqlite_store.engine, "front:1"), turns_of(sqlite_store)
    other = another_process_writing(tmp_path / "bot.db")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):  # raised at BEGIN, as SQLite's
        inbox.take("k:1", "body")
    other.rollback()
    assert turns.take(timeout=0)
    turns.give_back()
    assert inbox.take("k:1", "body")
    other.close()


def test_a_read_of_the_store_holds_back_no_inbox_write(sqlite_store: Store) -> None:
    """The work after an ack reads the store (in a worker of a lower priority, on busy cores): the inbox write an
    ack waits for never waits for such a read to end, and the read keeps one snapshot meanwhile."""
    inbox, written = Inbox(lambda: sqlite_store.engine, "front:1"), threading.Event()
    with sqlite_store.reader.connect() as conn:
        assert conn.execute(sa.select(deliveries.c.key)).scalars().all() == []
        writer = threading.Thread(target=lambda: inbox.take("k:1", "body") and written.set())
        writer.start()
        assert written.wait(5)
        assert conn.execute(sa.select(deliveries.c.key)).scalars().all() == []
    writer.join(5)
    with sqlite_store.reader.connect() as conn:
        assert conn.execute(sa.select(deliveries.c.key)).scalars().all() == ["k:1"]


def test_a_read_of_the_store_waits_for_no_writer(sqlite_store: Store) -> None:
    read = threading.Event()
    with sqlite_store.engine.begin():  # a writer holding the turn (and SQLite's lock) meanwhile
        reader = threading.Thread(target=lambda: sqlite_store.get_request("nothing") is None and read.set())
        reader.start()
        assert read.wait(5)
    reader.join(5)


def test_a_connection_that_wrote_for_an_ack_waits_for_the_lock_again_in_anything_else(sqlite_store: Store) -> None:
    """The inbox's writes keep SQLite's busy handler off between them (they try again themselves, promptly); any
    other transaction on the same connection afterwards, a write or a read, has it back: it waits for another
    process's lock instead of failing at once with 'database is locked'."""
    def busy_timeout(conn: sa.Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)

    with sqlite_store.engine.connect() as conn:
        for read_only in (False, True):
            with first_in_line(acks_wait=True), conn.begin():
                assert busy_timeout(conn) == 0
            used = conn.execution_options(**{connection.READ_ONLY: True}) if read_only else conn
            with used.begin():
                assert busy_timeout(used) == SQLITE_BUSY_SECONDS * 1000


def test_a_mark_of_work_done_alone_holds_the_lock_only_while_its_statement_runs(sqlite_store: Store) -> None:
    """A worker's inbox write is, most often, a mark that work is done, alone. As BEGIN IMMEDIATE, UPDATE, COMMIT
    it held SQLite's lock while Python went between the statements, where the niced worker loses the CPU to the
    front and the acks' writes wait for the lock. It is one statement, its own transaction; a write of rows (an
    ack's) still begins its transaction first."""
    statements: list[str] = []
    sa.event.listen(sqlite_store.engine, "checkout",
                    lambda dbapi_connection, *_: dbapi_connection.set_trace_callback(statements.append))
    inbox, turns = Inbox(lambda: sqlite_store.engine, "worker:1"), turns_of(sqlite_store)
    assert inbox.take("k:1", "body")
    def run() -> list[str]:  # PRAGMAs left out: they set the busy handler, no lock taken
        return [s.split()[0] for s in statements if not s.startswith("PRAGMA")]

    assert run() == ["BEGIN", "INSERT", "COMMIT"]
    statements.clear()
    inbox.done("k:1")
    assert run() == ["UPDATE"]
    assert turns.take(timeout=0)  # its turn given back
    turns.give_back()
    with sqlite_store.reader.connect() as conn:
        assert conn.execute(sa.select(deliveries.c.body).where(deliveries.c.key == "k:1")).scalar_one() is None

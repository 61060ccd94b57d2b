"""SQLite's writers in one process take turns (bot/adapters/store/connection.py): one at a time, woken as the one
before them commits, and the inbox's writer, whose commit each ack waits for, before the others."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store
from bot.adapters.store.connection import TakingTurns, Turns, first_in_line


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

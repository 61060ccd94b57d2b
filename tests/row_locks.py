"""A row held by another session (an operator's `SELECT ... FOR UPDATE` left open, a frozen instance's
transaction), for tests of what waits on it (PostgreSQL)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bot.adapters.store import connection
from bot.adapters.store.connection import database_url


@pytest.fixture
def on_postgresql(store_url: str) -> str:
    if not store_url.startswith("postgresql"):
        pytest.skip("a lock on one row is PostgreSQL's: SQLite locks the whole file, and its writers wait their turn")
    return store_url


@pytest.fixture
def lock_waits_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's lock timeout past the tests' bounds (asked before the bot's store is made): a statement that
    waits for a row another session holds hangs the test, which fails at its bound (`acked_while`)."""
    monkeypatch.setattr(connection, "LOCK_TIMEOUT_MS", 600_000)


@contextlib.contextmanager
def held(url: str, table: str, column: str, value: str) -> Iterator[None]:
    """Another session holds the row of `table` whose `column` is `value` `FOR UPDATE` meanwhile (an operator's
    lock left open)."""
    engine = sa.create_engine(database_url(url))
    conn = engine.connect()
    conn.begin()
    try:
        assert conn.execute(sa.text(f"SELECT {column} FROM {table} WHERE {column} = :v FOR UPDATE"),
                            {"v": value}).scalar() == value
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()

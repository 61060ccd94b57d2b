"""The database still answers reads but refuses every write: a SQLite file on a volume remounted read-only (or a
full disk), a PostgreSQL failed over to a standby (a read-only transaction). Every change then fails and no acked
work can be kept in the inbox: `/healthz` must not say ok meanwhile, so that the operator (or the orchestrator) is
told, and says ok again once writes are taken."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import Bot, make_bot

from bot.adapters.store import Store
from bot.emulators.planetscale import PlanetScaleState
from bot.runtime.app import health_report


@pytest.fixture
def stored_bot(settings: Any, slack: Any, planetscale_client: Any, store_url: str,
               slack_server: Any) -> Iterator[Bot]:
    store = Store(store_url)
    store.migrate()
    yield from make_bot(settings, slack, planetscale_client, store, slack_server)
    store.close()


def refusing_writes(store: Store) -> Any:
    """From now on every new connection of the store reads and refuses to write, as a read-only volume or a
    standby does; returns the undoing."""
    engine = store.engine
    sqlite = engine.dialect.name == "sqlite"

    def read_only(dbapi_connection: Any, _: Any) -> None:
        if sqlite:
            dbapi_connection.execute("PRAGMA query_only = ON")
        else:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

    sa.event.listen(engine, "connect", read_only)
    engine.dispose()

    def undo() -> None:
        sa.event.remove(engine, "connect", read_only)
        engine.dispose()
    return undo


def test_healthz_says_so_while_the_database_refuses_writes_and_ok_once_it_takes_them(
    stored_bot: Bot, planetscale: PlanetScaleState
) -> None:
    assert health_report(stored_bot.deps)["status"] == "ok"
    undo = refusing_writes(stored_bot.deps.store)
    try:
        reply = stored_bot.command('update acme/app-db "Development daily" retention=5d')
        assert reply.private, "the person was told nothing"
        assert planetscale.calls("PATCH") == []
        report = health_report(stored_bot.deps)
        assert report["status"] == "unavailable", report
        assert "refuses writes" in report["database"], report
    finally:
        undo()
    later = stored_bot.deps.store.clock() + 120
    stored_bot.deps.store.clock = lambda: later
    assert health_report(stored_bot.deps)["status"] == "ok"
    stored_bot.command('update acme/app-db "Development daily" retention=5d')
    assert len(planetscale.calls("PATCH")) == 1


def test_the_person_is_told_the_database_refuses_writes_and_to_try_again(
    stored_bot: Bot, planetscale: PlanetScaleState
) -> None:
    undo = refusing_writes(stored_bot.deps.store)
    try:
        reply = stored_bot.command('update acme/app-db "Development daily" retention=5d')
    finally:
        undo()
    said = " ".join(e.text for e in reply.private)
    assert "database refuses" in said and "try again" in said, said
    assert planetscale.calls("PATCH") == []

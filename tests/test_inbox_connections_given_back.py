"""A bot that stops gives back the connection its inbox writer keeps between writes, before its store closes (a pool
closes only what was given back): several bots in one process (instances in a test, a restart in place) never
pile up idle connections on PostgreSQL until the server refuses more."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import bot_over

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.store import database_url
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.settings import Settings


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The garbage collector held: a connection left open is found open, not closed by chance meanwhile."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def opened_since(url: str, since: object) -> int:
    """Connections to the database opened at or after `since` (the server's clock) and still open, this one aside."""
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_start >= :since"), {"since": since}).scalar_one())
    finally:
        engine.dispose()


def server_now(url: str) -> object:
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    finally:
        engine.dispose()


def test_a_closed_bot_leaves_no_connection_open_on_postgresql(
        postgres_url: str, no_collector: None, planetscale_client: PlanetScaleClient, settings: Settings,
        slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer], tmp_path: Path) -> None:
    began = server_now(postgres_url)
    running = bot_over(planetscale_client, settings, slack, slack_server, tmp_path, url=postgres_url)
    bot = next(running)
    reply = bot.command("update acme/app-db bp03devday retention=9d")
    assert reply.response.status == 200
    assert any(e.kind == "message" for e in reply.events), "the change was not posted"
    assert opened_since(postgres_url, began) > 0, "the bot opened no connection: nothing is proved"
    bot.executor.shutdown(wait=True)  # ends the inbox writer's thread, as the runtime's stop does
    assert bot.deps.store.writer.pool.checkedout() == 0, "a connection is still out of the writer's pool"
    with pytest.raises(StopIteration):
        next(running)  # the dependencies and the store closed after

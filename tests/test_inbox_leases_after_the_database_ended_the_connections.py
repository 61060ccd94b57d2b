"""PostgreSQL ended the bot's sessions (a restart, a failover, an administrator's pg_terminate_backend) while an
instance holds work in its inbox: the next renewal of its leases takes a connection of the inbox writer's pool,
which no pool's ping checks (`Connected.writer`), and must not fail on the dead one it is given (a traceback in the
log, and a renewal lost) where the store's pool, whose ping finds it dead, used to serve it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import ALICE
from test_inbox import PROD, Instances, Killed, acked, inbox_of, instances

from bot.adapters.store.connection import database_url

__all__ = ["instances"]  # the fixture


def _end_sessions(url: str) -> None:
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    engine.dispose()


def test_the_first_renewal_after_postgresql_ended_the_sessions_renews(
        instances: Instances, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("sessions PostgreSQL ends; SQLite's connections are to a file")
    bot = instances.start(Killed())
    assert acked(bot, bot.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    inbox = inbox_of(bot)
    assert inbox.renew() == 1  # a connection of its pool, given back to it
    _end_sessions(store_url)
    assert inbox.renew() == 1

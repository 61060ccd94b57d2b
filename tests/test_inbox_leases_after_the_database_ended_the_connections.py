"""PostgreSQL ended the bot's sessions (a restart, a failover, an administrator's pg_terminate_backend) while an
instance holds work in its inbox: the next renewal of its leases takes a connection of the inbox writer's pool,
which no pool's ping checks (`Connected.writer`), and must not fail on the dead one it is given (a traceback in the
log, and a renewal lost) where the store's pool, whose ping finds it dead, used to serve it."""

from __future__ import annotations

import pytest
from conftest import ALICE
from test_inbox import PROD, Instances, Killed, acked, end_other_sessions, inbox_of, instances

__all__ = ["instances"]  # the fixture


def test_the_first_renewal_after_postgresql_ended_the_sessions_renews(
        instances: Instances, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("sessions PostgreSQL ends; SQLite's connections are to a file")
    bot = instances.start(Killed())
    assert acked(bot, bot.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    inbox = inbox_of(bot)
    assert inbox.renew() == 1  # a connection of its pool, given back to it
    end_other_sessions(store_url)
    assert inbox.renew() == 1

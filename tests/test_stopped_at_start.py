"""`serve` stopped (SIGTERM) while it checks or migrates the schema at start: it stops without starting its
workers, sweep or watch. The moment is held by the test, not timed: it holds the migration's lock (PostgreSQL's
advisory lock) until serve has been told to stop."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from processes import access_rules, serve_env, wait_until

from bot.adapters import migrations
from bot.adapters.store.connection import database_url
from bot.emulators.serving import free_port

# The key of the lock migrations take (bot/adapters/store/connection.py `migrate`).
MIGRATION_LOCK = 4242001


def waiting_for_lock(conn: sa.Connection) -> bool:
    return bool(conn.exec_driver_sql(
        f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = {MIGRATION_LOCK}")
        .scalar())


def test_a_sigterm_during_the_migration_at_start_starts_no_worker(
    tmp_path: Path, slack_server: Any, planetscale_server: Any, postgres_url: str
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    log = tmp_path / "serve.log"
    engine = sa.create_engine(database_url(postgres_url))
    with engine.connect() as holding, engine.connect() as looking:
        holding.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        holding.commit()
        env = {**serve_env(slack_server, planetscale_server, postgres_url), "BACKUP_BOT_WORKERS": "1"}
        with open(log, "ab") as err:
            serve = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                      str(free_port())], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                     stderr=err)
        try:
            wait_until(lambda: waiting_for_lock(looking) or serve.poll() is not None,
                       "serve never came to migrate the schema")
            assert serve.poll() is None, log.read_text()
            serve.send_signal(signal.SIGTERM)
            # uvicorn's line as it runs serve's `finish`
            wait_until(lambda: "Waiting for application shutdown" in log.read_text() or serve.poll() is not None,
                       "serve did not begin to stop")
            holding.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
            holding.commit()
            serve.wait(timeout=60)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
        with engine.connect() as conn:  # the migration under way was finished, not cut off by the exit
            version = migrations.current(conn)
    engine.dispose()
    assert version == migrations.head(), log.read_text()
    text = log.read_text()
    assert "worker process(es) started" not in text, text
    assert "stopped before it started" in text, text

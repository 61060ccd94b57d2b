"""The bot while PostgreSQL refuses it connections past a role's CONNECTION LIMIT (SQLSTATE 53300, "too many
connections"): every person is still answered, and /healthz says why the work after the acks may wait."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from processes import access_rules, command, post, serve_env, start, wait_until

from bot.adapters.store import Store
from bot.emulators.serving import free_port


@pytest.fixture
def crowded_role(postgres_url: str) -> Iterator[str]:
    """A URL for a role of its own on the test database, whose connections a test limits with `crowd` (PostgreSQL
    only: SQLite has no connections to refuse). The schema is made by the test's user."""
    Store(postgres_url).migrate()
    url = sa.engine.make_url(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    role = f"r_{url.database}_crowded"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    try:
        yield url.set(username=role, password=None).render_as_string(hide_password=False).replace(
            "postgresql+psycopg://", "postgresql://", 1)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


def crowd(postgres_url: str, role_url: str, limit: int) -> None:
    """The role may open `limit` connections from now on; those it has are closed (a restart of PostgreSQL, a
    pooler's), so the bot opens new ones and meets the limit."""
    role = sa.engine.make_url(role_url).username
    admin = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER ROLE "{role}" CONNECTION LIMIT {limit}')
        conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
    admin.dispose()


def test_healthz_says_postgresql_refuses_the_workers_connections(
        tmp_path: Path, slack_server: Any, planetscale_server: Any, postgres_url: str, crowded_role: str) -> None:
    """Once running, `serve` and its worker need more connections than the role may now open: their loops meet
    53300. Every command is still answered, and /healthz says PostgreSQL refuses connections and what to do."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    env = {**serve_env(slack_server, planetscale_server, crowded_role), "BACKUP_BOT_WORKERS": "1"}
    process = start(env, tmp_path, port)
    try:
        crowd(postgres_url, crowded_role, 2)
        slack, slack_url = slack_server[0], slack_server[1].url
        for i in range(8):
            post(port, command("list acme/app-db", slack_url, response=str(i), trigger=f"{i}.1"))
        wait_until(lambda: sum(e.kind == "response" for e in slack.state.events) >= 8, "every list answered")

        def said() -> bool:
            return "too many connections" in httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).text

        wait_until(said, "/healthz names the connections PostgreSQL refuses", timeout=60)
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert answer.status_code == 503
        assert "connection limit" in answer.json()["database_connections"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_loop_failing_alike_on_every_run_logs_its_traceback_once(
        tmp_path: Path, slack_server: Any, planetscale_server: Any, postgres_url: str, crowded_role: str) -> None:
    """The inbox's keeper meets 53300 every 2 s while PostgreSQL refuses connections: it logged some sixty lines of
    traceback each time, in each process, a storm that buried what else the log said. Now the traceback once, then
    one line per run, naming the error and how many runs failed in a row."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    env = {**serve_env(slack_server, planetscale_server, crowded_role), "BACKUP_BOT_WORKERS": "1"}
    process = start(env, tmp_path, port)
    log = tmp_path / "serve.log"

    def records() -> list[dict[str, Any]]:
        return [r for r in map(json.loads, log.read_text().splitlines()) if "inbox leases failed" in r["message"]]

    try:
        crowd(postgres_url, crowded_role, 1)
        wait_until(lambda: len(records()) >= 8, "the inbox's keeper fails run after run", timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=30)
    failed = records()
    told_whole = [r for r in failed if "Traceback" in r["message"]]
    assert len(told_whole) <= 2  # once in serve, once in its worker
    assert any("too many connections" in r["message"] and "times in a row" in r["message"] for r in failed)


def test_migrate_and_doctor_say_postgresql_refuses_a_connection_and_the_fix(
        tmp_path: Path, slack_server: Any, planetscale_server: Any, postgres_url: str, crowded_role: str) -> None:
    """At start, every connection refused: `serve`'s migration (as `migrate` and the audit commands) said "check
    that the database exists and is reachable" and `doctor` "database unreachable (OperationalError)… the database
    server is running", though it is, and answers: both now say PostgreSQL refuses a connection, and the fix."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    crowd(postgres_url, crowded_role, 0)
    env = serve_env(slack_server, planetscale_server, crowded_role)
    for args in (["migrate"], ["doctor"]):
        done = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        said = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in said, said[-2000:]
        assert "PostgreSQL refuses the bot a connection (too many connections for role" in said, said[-2000:]
        assert "raise the connection limit" in said

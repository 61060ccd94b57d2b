"""Review rev20i (issue 20): `serve`'s checks and its workers' stop, on a bad day.

What only reads the database (/healthz's look at the schema, /metrics' count of open requests) must not wait for
SQLite's one writer: in WAL mode a read goes on beside a write another process holds (`backup-bot audit prune`
deleting a long trail, a worker inside a long write, an operator's `sqlite3` shell), and the database is usable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
from processes import access_rules, serve_env, start
from test_workers import stop

from bot.emulators.serving import free_port

# Longer than /healthz's and /metrics' own bound (HEALTH_TIMEOUT_SECONDS, SCRAPE_TIMEOUT_SECONDS: 4 s).
HELD_SECONDS = 6.0


def test_healthz_and_metrics_answer_while_another_process_holds_sqlites_write_lock(
    tmp_path: Path, slack_server: Any, planetscale_server: Any
) -> None:
    """/healthz read the schema's version, and /metrics counted the open requests, each in a transaction that
    began as a writer's (BEGIN IMMEDIATE): while another process held SQLite's write lock for longer than their
    4 s, both answered 503 ("not answering within 4 s", "the metrics wait on the database"), though the database
    answered every read, and a supervisor would restart a healthy bot. They read as readers do."""
    url = f"sqlite:///{tmp_path}/bot.db"
    (tmp_path / "access.toml").write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    writer = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("SELECT count(*) FROM change_requests").fetchone()
        held = time.monotonic()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        waited = time.monotonic() - held
        writer.execute("ROLLBACK")
        assert health.status_code == 200, health.text
        assert metrics.status_code == 200, metrics.text
        assert waited < HELD_SECONDS, f"the checks waited {waited:.1f} s for the writer"
        assert "backup_bot_requests_pending 0.0" in metrics.text
    finally:
        writer.close()
        stop(serve)

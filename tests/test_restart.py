"""A pending request survives `kill -9` of `backup-bot serve` and a restart; SIGTERM lets acked work finish."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from processes import access_rules, approve, command, post, serve_env, serve_refuses, start, wait_until

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState

DRAINING = "finishing the work already acknowledged"  # logged as SIGTERM's shutdown begins


def test_a_pending_request_survives_kill_9_and_the_approval_applies_once(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}")
    slack_url, port = slack_server[1].url, free_port()
    server = start(env, tmp_path, port)
    post(port, command('update acme/app-db "Production daily" retention=7d', slack_url))
    wait_until(lambda: any(e.kind == "message" for e in slack.events), "the request was not posted")
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)

    server = start(env, tmp_path, port)
    try:
        [message] = [e for e in slack.events if e.kind == "message"]
        post(port, approve(message, "U0CAROL001", "carol", slack_url))
        wait_until(lambda: any(e.kind == "update" and "changed the backup policy" in str(e.blocks)
                               for e in slack.events), "the approved change was not applied")
        assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 7, "retention_unit": "day"}]
    finally:
        server.terminate()
        server.wait(timeout=30)
    # SIGTERM: a graceful shutdown (uvicorn re-raises the signal once done, as a process killed by it would)
    assert server.returncode in (0, -signal.SIGTERM)
    assert DRAINING in (tmp_path / "serve.log").read_text()


def test_sigterm_lets_a_change_already_acked_finish(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}")
    port = free_port()
    server = start(env, tmp_path, port)
    answered = threading.Event()  # PlanetScale answers the PATCH once the shutdown has begun
    planetscale.add_fault(Fault(until=answered, method="PATCH"))
    try:
        post(port, command("update acme/app-db bp03devday retention=6d", slack_server[1].url))
        wait_until(lambda: planetscale.calls("PATCH"), "the PATCH did not start")
        server.terminate()  # while PlanetScale is still answering
        wait_until(lambda: DRAINING in (tmp_path / "serve.log").read_text(), "the shutdown never began")
    finally:
        answered.set()
    server.wait(timeout=30)
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 6
    assert any(e.kind == "message" and "changed the backup policy" in str(e.blocks) for e in slack.events)


def test_serve_with_an_unusable_database_stops_with_one_line_naming_it(
    tmp_path: Path, slack_server: Any, planetscale_server: Any
) -> None:
    # The schema is checked beside the first acks, after the server has started: it still stops the process.
    line = serve_refuses("postgresql://nobody@127.0.0.1:1/none", slack_server, planetscale_server, tmp_path)
    assert line.startswith("backup-bot: BACKUP_BOT_DATABASE_URL cannot be used")

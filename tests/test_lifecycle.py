"""A real `backup-bot serve` (and `socket`) process: its metrics, its log lines, and how it stops."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from processes import access_rules, command, post, serve_env, start, wait_until

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import socket_envelope

RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        if sample.split("{", 1)[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_metrics_and_log_lines_of_a_served_bot(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}")
    slack_url, port = slack_server[1].url, free_port()
    server = start(env, tmp_path, port)
    try:
        post(port, command("list acme/app-db", slack_url))
        post(port, command('update acme/app-db "Production daily" retention=9d reason="alice secret plan"',
                           slack_url))
        wait_until(lambda: any(e.kind == "message" for e in slack.events), "the request was not posted")

        def both_answered() -> bool:
            # The list's answer and the update's request are two works after their acks, in either order.
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            return metric(text, "backup_bot_answer_seconds_count", type="command") >= 2

        wait_until(both_answered, "the two commands' work was not both answered")
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert metric(text, "backup_bot_requests_total", kind="command:list", outcome="acked") == 1
    assert metric(text, "backup_bot_requests_total", kind="command:update", outcome="acked") == 1
    assert metric(text, "backup_bot_ack_seconds_count", type="command") == 2
    assert metric(text, "backup_bot_answer_seconds_count", type="command") >= 2
    assert metric(text, "backup_bot_planetscale_requests_total", status="200") >= 2
    assert metric(text, "backup_bot_planetscale_request_seconds_count") >= 2
    assert 0 < metric(text, "backup_bot_planetscale_budget_used_ratio") < 1
    assert metric(text, "backup_bot_requests_pending") == 1
    for name in ("backup_bot_watch_passes", "backup_bot_watch_findings", "backup_bot_slack_api_errors"):
        assert re.search(rf"^# TYPE {name}(_total)? counter$", text, re.MULTILINE), name
    # No label carries a person, a reason or a secret.
    for private in ("U0ALICE001", "alice", "secret plan", env["SLACK_BOT_TOKEN"], env["PLANETSCALE_SERVICE_TOKEN"]):
        assert private not in text

    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    assert lines and all(RFC3339_MS.fullmatch(line["time"]) for line in lines), lines[0]
    requests = [line for line in lines if line["logger"] == "bot.requests"]
    assert [(r["kind"], r["outcome"]) for r in requests] == [("command:list", "acked"), ("command:update", "acked")]
    assert all(isinstance(r["ms"], float) and r["request_id"] != "-" for r in requests)
    [audit] = [line for line in lines if line["logger"] == "bot.audit"]
    assert audit["audit"]["action"] == "requested" and audit["audit"]["policy_name"] == "Production daily"
    assert audit["request_id"] == requests[1]["request_id"]


def test_sigterm_waits_for_acked_work_no_longer_than_the_drain_timeout(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "BACKUP_BOT_DRAIN_TIMEOUT": "1s"}
    port = free_port()
    server = start(env, tmp_path, port)
    answered = threading.Event()  # PlanetScale holds the change until the test ends
    planetscale.add_fault(Fault(until=answered, method="PATCH"))
    try:
        post(port, command("update acme/app-db bp03devday retention=6d", slack_server[1].url))
        wait_until(lambda: planetscale.calls("PATCH"), "the PATCH did not start")
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)  # while PlanetScale still holds it
        except subprocess.TimeoutExpired:
            server.kill()
            raise AssertionError("serve did not stop within its drain timeout") from None
    finally:
        answered.set()
    log = (tmp_path / "serve.log").read_text()
    assert "for at most 1 s" in log
    assert "shutting down with 1 piece(s) of work unfinished after 1 s (BACKUP_BOT_DRAIN_TIMEOUT)" in log


def test_socket_mode_drains_on_sigterm_and_answers_a_health_check(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    slack.app_token = "xapp-1-A0BACKUPBOT-test"
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": slack.app_token}
    health_port = free_port()
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket", "--health-host", "127.0.0.1",
                                    "--health-port", str(health_port)], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, "the health check did not answer 200")
        answered = threading.Event()  # PlanetScale answers the PATCH once the shutdown has begun
        planetscale.add_fault(Fault(until=answered, method="PATCH"))
        payload = dict(parse_qsl(command("update acme/app-db bp03devday retention=9d", slack_server[1].url)))
        with slack.lock:
            slack.socket_outbox.append(socket_envelope("slash_commands", payload, "env-1"))
        try:
            wait_until(lambda: planetscale.calls("PATCH"), "the PATCH did not start")
            process.send_signal(signal.SIGTERM)  # while PlanetScale is still answering
            wait_until(lambda: "finishing the work already acknowledged" in (tmp_path / "socket.log").read_text(),
                       "the shutdown never began")
        finally:
            answered.set()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, (tmp_path / "socket.log").read_text()
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 9
    assert any(e.kind == "message" and "changed the backup policy" in str(e.blocks) for e in slack.events)
    assert "shut down: all work finished" in (tmp_path / "socket.log").read_text()

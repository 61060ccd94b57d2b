"""A pending request survives `kill -9` of `backup-bot serve` and a restart: the approval still applies, once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import BOT_TOKEN, SIGNING_SECRET

from bot.emulators.planetscale import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import block_actions_body, signed_headers, slash_command_body

RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    with open(cwd / "serve.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                    str(port)], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError((cwd / "serve.log").read_text())


def post(port: int, body: str) -> None:
    answer = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                        headers=dict(signed_headers(SIGNING_SECRET, body)), timeout=10)  # type: ignore[arg-type]
    assert answer.status_code == 200


def wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_pending_request_survives_kill_9_and_the_approval_applies_once(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(RULES)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))},
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack_server[1].url + "/api/", "PLANETSCALE_API_URL": planetscale_server[1].url + "/v1",
           "PLANETSCALE_SERVICE_TOKEN_ID": DEMO_TOKEN_ID, "PLANETSCALE_SERVICE_TOKEN": DEMO_TOKEN,
           "BACKUP_BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    port = free_port()
    server = start(env, tmp_path, port)
    post(port, slash_command_body('update acme/app-db "Production daily" retention=7d', user_id="U0ALICE001",
                                  user_name="alice", channel_id="C0DBAOPS01", channel_name="db-ops",
                                  response_url=slack_server[1].url + "/response/9", trigger_id="1.1"))
    wait_until(lambda: any(e.kind == "message" for e in slack.events), "the request was not posted")
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)

    server = start(env, tmp_path, port)
    try:
        [message] = [e for e in slack.events if e.kind == "message"]
        approve = next(el for b in message.blocks for el in b.get("elements", []) if el.get("action_id") ==
                       "request_approve")
        post(port, block_actions_body(
            user_id="U0CAROL001", user_name="carol", channel_id="C0DBAOPS01", response_url=slack_server[1].url +
            "/response/10", trigger_id="2.2", message={"type": "message", "ts": message.ts, "blocks": message.blocks},
            action={"type": "button", "action_id": "request_approve", "block_id": "b", "value": approve["value"]}))
        wait_until(lambda: any(e.kind == "update" and "changed the backup policy" in str(e.blocks)
                               for e in slack.events), "the approved change was not applied")
        assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 7, "retention_unit": "day"}]
    finally:
        server.terminate()
        server.wait(timeout=30)
    # SIGTERM: a graceful shutdown (uvicorn re-raises the signal once done, as a process killed by it would)
    assert server.returncode in (0, -signal.SIGTERM)
    assert "finishing the work already acknowledged" in (tmp_path / "serve.log").read_text()


def test_sigterm_lets_a_change_already_acked_finish(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    from bot.emulators.planetscale import Fault

    (tmp_path / "access.toml").write_text(RULES.replace("approvals = 1", "approvals = 0"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))},
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack_server[1].url + "/api/", "PLANETSCALE_API_URL": planetscale_server[1].url + "/v1",
           "PLANETSCALE_SERVICE_TOKEN_ID": DEMO_TOKEN_ID, "PLANETSCALE_SERVICE_TOKEN": DEMO_TOKEN,
           "BACKUP_BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    port = free_port()
    server = start(env, tmp_path, port)
    planetscale.add_fault(Fault(delay=1.5, method="PATCH"))
    post(port, slash_command_body("update acme/app-db bp03devday retention=6d", user_id="U0ALICE001",
                                  user_name="alice", channel_id="C0DBAOPS01", channel_name="db-ops",
                                  response_url=slack_server[1].url + "/response/11", trigger_id="3.3"))
    wait_until(lambda: planetscale.calls("PATCH"), "the PATCH did not start")
    server.terminate()  # while PlanetScale is still answering
    server.wait(timeout=30)
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 6
    assert any(e.kind == "message" and "changed the backup policy" in str(e.blocks) for e in slack.events)

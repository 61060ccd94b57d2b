"""`backup-bot socket`: the same app over Socket Mode, against the Slack emulator's websocket."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from processes import access_rules, command, serve_env, wait_until

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import socket_envelope

APP_TOKEN = "xapp-1-A0BACKUPBOT-test"


def test_a_command_over_socket_mode_is_acked_and_applied(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    slack.app_token = APP_TOKEN
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN}
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        payload = dict(parse_qsl(command("update acme/app-db bp03devday retention=9d", slack_server[1].url)))
        with slack.lock:
            slack.socket_outbox.append(socket_envelope("slash_commands", payload, "env-1"))
        wait_until(lambda: any(a.get("envelope_id") == "env-1" for a in slack.socket_acks), "no ack")
        wait_until(lambda: any(e.kind == "message" for e in slack.events), "the change was not posted")
    finally:
        process.terminate()
        process.wait(timeout=30)
    [ack] = [a for a in slack.socket_acks if a.get("envelope_id") == "env-1"]
    assert "Checking your change" in str(ack.get("payload"))
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]

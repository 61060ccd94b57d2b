"""`backup-bot socket --health-port` while its Socket Mode connection is gone and Slack will not open another
(the app-level token revoked: `apps.connections.open` answers `invalid_auth`, each try): the process receives
nothing, so /healthz, its liveness probe, answers 503 naming Slack's connection, not 200 "ok"; once Slack opens a
connection again, 200. And a --health-port another process holds is one line naming it at start, not a
traceback after the connection was made. Against the Slack emulator's websocket."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from processes import access_rules, serve_env, wait_until

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import CLOSE, MethodFault, SlackState

APP_TOKEN = "xapp-1-A0BACKUPBOT-test"


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    except httpx.TransportError:
        return 0, {}
    return answer.status_code, json.loads(answer.text)


def test_healthz_tells_a_socket_mode_connection_slack_will_not_open_again(
        tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any,
        planetscale_server: Any, store_url: str) -> None:
    slack.app_token = APP_TOKEN
    env = {**serve_env(slack_server, planetscale_server, store_url),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_LOG_FORMAT": "text"}
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket", "--health-host", "127.0.0.1",
                                    "--health-port", str(port)], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        wait_until(lambda: health(port)[0] == 200, "/healthz never answered 200 while connected")
        revoked = MethodFault("apps.connections.open", error="invalid_auth", times=None)
        slack.add_fault(revoked)
        opened = len(slack.method_calls("apps.connections.open"))
        with slack.lock:
            slack.socket_outbox.append(CLOSE)
        # Two refused tries: the client has seen the connection gone and failed to open another.
        wait_until(lambda: len(slack.method_calls("apps.connections.open")) >= opened + 2,
                   "the app did not try to connect again")
        # Past a reconnect's few seconds, the probe is told; before the fix it answered 200 "ok" throughout.
        wait_until(lambda: health(port)[0] == 503, f"/healthz still answers {health(port)} with no connection",
                   timeout=40)
        assert "no Socket Mode connection" in health(port)[1].get("slack", ""), health(port)
        revoked.times = 0  # Slack opens connections again
        wait_until(lambda: health(port)[0] == 200, "/healthz did not answer 200 once connected again", timeout=120)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert APP_TOKEN not in (tmp_path / "socket.log").read_text()


def test_a_health_port_in_use_is_one_line_naming_it(tmp_path: Path, slack: SlackState, slack_server: Any,
                                                    planetscale_server: Any) -> None:
    slack.app_token = APP_TOKEN
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_LOG_FORMAT": "text"}
    (tmp_path / "access.toml").write_text(access_rules(0))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "bot", "socket", "--health-host", "127.0.0.1",
                               "--health-port", str(port)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"--health-port {port}" in done.stderr and "choose another port" in done.stderr, done.stderr[-3000:]
    assert slack.socket_connections == 0  # said before anything else ran

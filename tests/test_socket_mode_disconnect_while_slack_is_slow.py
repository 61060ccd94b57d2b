"""`backup-bot socket` told by Slack to `disconnect` (a refresh: Slack keeps the connection open a few seconds
more, and envelopes still come on it) while `apps.connections.open` is slow or rate limited (Retry-After): the
envelopes arriving meanwhile are acked within Slack's 3 seconds and applied, and the app connects again once
Slack answers. Against the Slack emulator's websocket."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from processes import access_rules, command, serve_env, wait_until

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackState
from bot.emulators.slack_requests import socket_envelope

APP_TOKEN = "xapp-1-A0BACKUPBOT-test"
# Long enough that no ack on a loaded machine comes after it; the emulator answers the retry at once.
RETRY_AFTER = 30
# Below the client's 10 s timeout, which ends a held apps.connections.open.
HELD_BOUND = 8.0
DISCONNECT = {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "emulator"}}


@pytest.mark.parametrize("slow", ["held", "ratelimited"])
def test_envelopes_after_a_disconnect_are_acked_while_slack_is_slow_to_open_the_next_connection(
        tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any,
        planetscale_server: Any, slow: str) -> None:
    slack.app_token = APP_TOKEN
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_WATCH_EVERY": "off"}
    good = dict(parse_qsl(command("update acme/app-db bp03devday retention=9d", slack_server[1].url)))
    answered = threading.Event()  # Slack answers apps.connections.open once the envelope was acked, or in time
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        opened = len(slack.method_calls("apps.connections.open"))
        slack.add_fault(MethodFault("apps.connections.open", until=answered) if slow == "held" else
                        MethodFault("apps.connections.open", status=429, retry_after=RETRY_AFTER))
        sent = time.monotonic()
        with slack.lock:  # on the connection still open, right behind the disconnect
            slack.socket_outbox.extend([DISCONNECT, socket_envelope("slash_commands", good, "after")])
        wait_until(lambda: any(a.get("envelope_id") == "after" for a in slack.socket_acks), "no ack", timeout=60)
        acked = time.monotonic() - sent
        tries = len(slack.method_calls("apps.connections.open")) - opened
        answered.set()
        # Before the fix the ack waited for apps.connections.open: for its retry after Retry-After, or for the
        # client's 10 s timeout to end the held call. Bounds a loaded machine does not outrun.
        if slow == "held":
            assert acked < HELD_BOUND, f"acked {acked:.1f} s after Slack sent it"
        else:
            assert tries == 1, f"acked after {tries} calls of apps.connections.open: it waited for the retry"
        wait_until(lambda: slack.socket_connections >= 2, "the app did not connect again once Slack answered")
        wait_until(lambda: any(e.kind == "message" for e in slack.events), "the change was not posted")
    finally:
        answered.set()
        process.terminate()
        process.wait(timeout=30)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]

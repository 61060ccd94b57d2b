"""`backup-bot socket` while PostgreSQL's network stalls (packets dropped, nothing refused): Socket Mode's
envelopes are taken by a pool of ten threads, so an ack that waited on the database would hold every envelope
behind it past Slack's 3 seconds. Each envelope of a burst is acked within 3 s of reaching the app, and each person
is told in words meanwhile. Between the bot and PostgreSQL, the test's stalling proxy (test_stalled_network)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from processes import access_rules, command, serve_env, wait_until
from test_stalled_network import StallingProxy, proxied

from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import socket_envelope
from bot.runtime.executor import STILL_WORKING

__all__ = ["proxied"]  # a fixture, used by name

APP_TOKEN = "xapp-1-A0BACKUPBOT-test"
BURST = 15  # more than Socket Mode's ten threads


def test_socket_mode_acks_a_burst_within_3_seconds_while_the_database_stalls_and_tells_each_person(
        tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any,
        proxied: tuple[StallingProxy, str]) -> None:
    proxy, url = proxied
    slack.app_token = APP_TOKEN
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, url), "SLACK_APP_TOKEN": APP_TOKEN,
           "BACKUP_BOT_WATCH_EVERY": "off"}
    slack_url = slack_server[1].url
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    acked_at: dict[str, float] = {}

    def acks() -> int:
        now = time.monotonic()
        with slack.lock:
            for ack in slack.socket_acks:
                acked_at.setdefault(str(ack.get("envelope_id")), now)
        return len(acked_at)

    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode", timeout=60)
        warm = dict(parse_qsl(command("list acme/app-db", slack_url, response="0", trigger="0.0")))
        with slack.lock:
            slack.socket_outbox.append(socket_envelope("slash_commands", warm, "warm"))
        wait_until(lambda: acks() >= 1, "no ack before the stall")
        wait_until(lambda: any(e.kind == "response" for e in slack.events), "no answer before the stall")
        proxy.stalled.set()
        sent = time.monotonic()
        with slack.lock:
            slack.socket_outbox.extend(
                socket_envelope("slash_commands", dict(parse_qsl(command(
                    "list acme/app-db", slack_url, response=str(i), trigger=f"{i}.{i}"))), f"env-{i}")
                for i in range(1, BURST + 1))
        wait_until(lambda: acks() >= BURST + 1, "an envelope was never acked", timeout=60)
        late = {key: round(at - sent, 1) for key, at in acked_at.items() if key != "warm" and at - sent > 3.0}
        assert not late, f"acked past Slack's 3 seconds: {late}"
        told = lambda: {e.response_key for e in slack.events  # noqa: E731
                        if e.kind == "response" and STILL_WORKING in e.text}
        wait_until(lambda: len(told()) >= BURST, f"people left in silence: {told()}", timeout=120)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

"""A slash command over Socket Mode arrives as JSON, which may carry a lone surrogate (`\\ud800`) that no form over
HTTP can: a reason holding one was stored and applied while the forms refuse it, and a new policy's name holding
one was told in pydantic's words. Both are refused beside the key, with which character to remove; nothing sent."""

from __future__ import annotations

import json
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
TEXTS = {"env-reason": 'update acme/app-db bp03devday retention=9d reason="audit \ud800asks"',
         "env-name": 'create acme/app-db name="Nightly \ud800" target=development retention=3d frequency=1d at=04:00'}


def test_a_reason_or_name_holding_a_lone_surrogate_is_refused_beside_its_key(
        tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any,
        planetscale_server: Any) -> None:
    slack.app_token = APP_TOKEN
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN}
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        for envelope_id, text in TEXTS.items():
            payload = {**dict(parse_qsl(command("help", slack_server[1].url))), "text": text}
            with slack.lock:  # as text: JSON's escape, which the emulator's own encoder would not write
                slack.socket_outbox.append(json.dumps(socket_envelope("slash_commands", payload, envelope_id)))
        wait_until(lambda: {a.get("envelope_id") for a in slack.socket_acks} >= set(TEXTS), "no ack")
    finally:
        process.terminate()
        process.wait(timeout=30)
    acks = {a["envelope_id"]: str((a.get("payload") or {}).get("text")) for a in slack.socket_acks}
    assert acks["env-reason"].startswith(":warning: `reason` holds a broken character (U+D800"), acks
    assert acks["env-name"].startswith(":warning: `name` holds a broken character (U+D800"), acks
    assert planetscale.calls("PATCH") == [] and planetscale.calls("POST") == []
    assert "Traceback" not in (tmp_path / "socket.log").read_text()

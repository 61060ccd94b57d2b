"""`backup-bot socket` when Slack answers `apps.connections.open` with `ok` and no WebSocket URL it can use (a
proxy's bare `{"ok": true}`, a URL that is no string): one line naming Slack's answer and exit 2, as for a token
Slack refuses, not a traceback (a KeyError from slack_sdk), nor a process that says it is connected when it is
not. Against the Slack emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, serve_env

from bot.emulators.slack import MethodFault, SlackState

APP_TOKEN = "xapp-1-A0BACKUPBOT-test"


@pytest.mark.parametrize("answer", [{"ok": True}, {"ok": True, "url": 5}, {"ok": True, "url": None},
                                    {"ok": True, "url": "https://example.com/socket"}],
                         ids=["no-url", "a-number", "null", "not-a-websocket"])
def test_an_answer_without_a_websocket_url_is_one_line_naming_it(
        tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any,
        answer: dict[str, Any]) -> None:
    slack.app_token = APP_TOKEN
    slack.add_fault(MethodFault("apps.connections.open", body=answer, times=None))
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_LOG_FORMAT": "text"}
    done = subprocess.run([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "connected over Socket Mode" not in done.stderr, done.stderr[-3000:]
    assert "apps.connections.open" in done.stderr and "WebSocket URL" in done.stderr, done.stderr[-3000:]
    assert slack.socket_connections == 0

"""Running `backup-bot serve` as a real process against the test emulators, and talking to it as Slack does."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import BOT_TOKEN, SIGNING_SECRET

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackEvent
from bot.emulators.slack_requests import block_actions_body, signed_headers, slash_command_body


def access_rules(approvals: int) -> str:
    """The rules the process tests run with: @dba-team asks, @dba-leads approves, `approvals` needed."""
    return ('[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["@dba-team"]\n'
            f'approvers = ["@dba-leads"]\napprovals = {approvals}\n')


def serve_env(slack_server: Any, planetscale_server: Any, database_url: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    return {**keep, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_server[1].url + "/api/", "PLANETSCALE_API_URL": planetscale_server[1].url + "/v1",
            "PLANETSCALE_SERVICE_TOKEN_ID": DEMO_TOKEN_ID, "PLANETSCALE_SERVICE_TOKEN": DEMO_TOKEN,
            "BACKUP_BOT_DATABASE_URL": database_url}


def database_of_one_entry(folder: Path, action: str, at: str) -> str:
    """The URL of a new SQLite database in `folder` whose audit holds one entry, Alice's."""
    url = f"sqlite:///{folder / 'bot.db'}"
    store = Store(url)
    store.migrate()
    store.record(AuditEvent(action=action, actor="U0ALICE001", organization="acme", database="app-db", at=at))
    store.close()
    return url


def serve_to_its_end(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`serve` run until it stops by itself (a start it refuses), with what it printed."""
    return subprocess.run([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def serve_refuses(database_url: str, slack_server: Any, planetscale_server: Any, folder: Path) -> str:
    """The one line `serve` stops with (exit 2) on `database_url`."""
    (folder / "access.toml").write_text(access_rules(1))
    done = serve_to_its_end(serve_env(slack_server, planetscale_server, database_url), folder)
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("backup-bot:")]
    return line


def start(env: dict[str, str], cwd: Path, port: int, log_name: str = "serve.log",
          open_files: int | None = None) -> subprocess.Popen[bytes]:
    """`serve` on `port`, healthy; `open_files` bounds the file descriptors it may open (RLIMIT_NOFILE)."""
    def limited() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    with open(cwd / log_name, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                    str(port)], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log,
                                   preexec_fn=limited)
    # Generous: on a loaded machine serve and its workers take well over 30 s to import, migrate and start.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError((cwd / log_name).read_text())


def post(port: int, body: str) -> str:
    """The ack's body."""
    answer = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                        headers=dict(signed_headers(SIGNING_SECRET, body)), timeout=10)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    return answer.text


def wait_until(check: Callable[[], Any], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def command(text: str, slack_url: str, user: str = "U0ALICE001", name: str = "alice", response: str = "9",
            trigger: str = "1.1") -> str:
    """`response`: the response URL's key; `trigger`: the trigger ID, which tells two commands of one text apart."""
    return slash_command_body(text, user_id=user, user_name=name, channel_id="C0DBAOPS01", channel_name="db-ops",
                              response_url=slack_url + "/response/" + response, trigger_id=trigger)


def approve(message: SlackEvent, user: str, name: str, slack_url: str) -> str:
    value = next(el["value"] for b in message.blocks for el in b.get("elements", [])
                 if el.get("action_id") == "request_approve")
    return block_actions_body(
        user_id=user, user_name=name, channel_id="C0DBAOPS01", response_url=slack_url + "/response/10",
        trigger_id="2.2", message={"type": "message", "ts": message.ts, "blocks": message.blocks},
        action={"type": "button", "action_id": "request_approve", "block_id": "b", "value": value})

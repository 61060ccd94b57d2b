"""`serve` whose log reader stops reading (a supervisor's or container runtime's pipe left full): the bot carries on."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SIGNING_SECRET
from processes import access_rules, command, serve_env, wait_until

from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import signed_headers

# The pipe's buffer, made as small as Linux allows: a few requests' log lines fill it.
PIPE_BYTES = 4096


class LogReader:
    """Reads the log's pipe while `going` is set; what it read in `logged`."""

    def __init__(self, fd: int):
        self.fd = fd
        self.going = threading.Event()
        self.going.set()
        self.logged = bytearray()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        while self.going.wait() and (data := os.read(self.fd, 1 << 16)):
            self.logged += data


@pytest.fixture
def unread(tmp_path: Path, slack_server: Any, planetscale_server: Any) -> Iterator[tuple[int, LogReader]]:
    """`serve` (its worker too) logging to a pipe that is read until it is healthy, then no more."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}")
    reading, writing = os.pipe()
    fcntl.fcntl(writing, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=writing)
    os.close(writing)
    try:
        def healthy() -> bool:
            assert process.poll() is None, "serve ended"
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            return False

        log = LogReader(reading)
        wait_until(healthy, "serve never answered /healthz", timeout=120)
        time.sleep(1)  # the worker's first lines, after the front's check
        log.going.clear()
        yield port, log
    finally:
        process.kill()
        process.wait()


def test_acks_and_work_carry_on_while_the_log_reader_stops_reading(
        unread: tuple[int, LogReader], slack: SlackState, slack_server: Any) -> None:
    """Every log line was written on the thread that logged it: once the pipe was full (258 acks at INFO, its
    64 KiB), the event loop waited on it and every ack after timed out, /healthz too, until someone read the log."""
    port, log = unread
    slack_url = slack_server[1].url
    for i in range(60):
        body = command("list acme/app-db", slack_url, response=f"list{i}", trigger=f"1.{i}")
        answer = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                            headers=dict(signed_headers(SIGNING_SECRET, body)), timeout=3)  # type: ignore[arg-type]
        assert answer.status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).status_code == 200
    # The worker's work, after the acks, is not held by the log either.
    asked = {f"list{i}" for i in range(60)}
    wait_until(lambda: {e.response_key for e in slack.events if e.kind == "response"} >= asked,
               "a list was never answered while the log went unread")
    # Once the log is read again, the lines kept meanwhile come: each ack's (the lines dropped past the queue's
    # bound, and their count: tests/bot/runtime/test_logs.py).
    log.going.set()
    wait_until(lambda: log.logged.count(b"command:list acked in") == 60, "the acks' lines never came")

"""Review rev20e (issue 20): what a flood of bad clients writes to the log, and PlanetScale answers whose head
never ends."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, command, post, serve_env, start

from bot.emulators.serving import free_port

FRONT_LOGGER = "bot.runtime.front"


def front_warnings(log: Path) -> list[str]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line["message"] for line in lines if line.get("logger") == FRONT_LOGGER]


@pytest.fixture
def crowded(tmp_path: Path, slack_server: Any, planetscale_server: Any) -> Iterator[tuple[int, str, Path]]:
    """`serve` as a process with 400 file descriptors (room for 48 connections)."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    process = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"), tmp_path,
                    port, open_files=400)
    try:
        yield port, slack_server[1].url, tmp_path / "serve.log"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_flood_of_slow_connections_is_logged_in_a_few_lines_not_one_a_connection(
        crowded: tuple[int, str, Path]) -> None:
    """Each connection the front closed to make room wrote its own warning: 600 slow connections wrote some 550
    lines in a second, and an attack of thousands a minute a log that buries everything else (and fills a disk
    or a log service's quota). A bad day told once, with how many, is what an operator can read."""
    port, slack_url, log = crowded
    held: list[socket.socket] = []
    try:
        for _ in range(600):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slow: a")
            held.append(client)
        post(port, command("list acme/app-db", slack_url))
    finally:
        for client in held:
            client.close()
    said = front_warnings(log)
    assert said, "the flood was not logged at all"
    assert len(said) <= 5, f"{len(said)} lines: {said[:3]}"

"""Bad clients against `backup-bot serve` as a process: what anyone on the network can send before a signature is
checked must not grow the server without bound, and Slack's own requests still get through."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, command, post, serve_env, start

from bot.emulators.serving import free_port

CHUNK = b"a" * (1 << 20)


@pytest.fixture
def served(tmp_path: Path, slack_server: Any, planetscale_server: Any) -> Iterator[tuple[int, str]]:
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    process = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"), tmp_path, port)
    try:
        yield port, slack_server[1].url
    finally:
        process.terminate()
        process.wait(timeout=30)


def refused_after(port: int, head: bytes, most: int) -> int | None:
    """How many megabytes of one endless header line the server took before it answered or closed; None if it took
    all `most` of them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(head)
        for sent in range(most):
            try:
                client.sendall(CHUNK)
            except OSError:  # reset or closed: refused
                return sent
            client.setblocking(False)
            try:
                answered = client.recv(64)
            except BlockingIOError:
                answered = None
            except OSError:
                return sent
            client.setblocking(True)
            if answered is not None:  # an answer (431, 400) or the end of the connection
                assert answered == b"" or answered.startswith(b"HTTP/1.1 4"), answered
                return sent
    return None


def test_an_endless_header_is_refused_before_the_server_holds_it_and_slack_still_gets_through(
        served: tuple[int, str]) -> None:
    port, slack_url = served
    head = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Padding: "
    assert refused_after(port, head, most=64) is not None
    post(port, command("list acme/app-db", slack_url))

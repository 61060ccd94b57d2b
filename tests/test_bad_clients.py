"""Bad clients against `backup-bot serve` as a process: what anyone on the network can send before a signature is
checked must not grow the server without bound, and Slack's own requests still get through."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, command, post, serve_env, start

from bot.emulators.serving import free_port
from bot.runtime.front import REQUEST_SECONDS

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


def closed_by_server(client: socket.socket, within: float) -> bool:
    """Whether the server closes `client` within `within` seconds while it trickles a header a byte at a time."""
    deadline = time.monotonic() + within
    client.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            client.sendall(b"a")
            if client.recv(64) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset
            return True
    return False


def test_a_header_trickled_a_byte_at_a_time_is_cut_off(served: tuple[int, str]) -> None:
    """A valid head that never ends in time (slowloris) holds its connection only for REQUEST_SECONDS."""
    port, slack_url = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slow: ")
        assert closed_by_server(client, REQUEST_SECONDS + 5)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:  # nothing sent at all
        idle.settimeout(REQUEST_SECONDS + 5)
        assert idle.recv(64) == b""
    post(port, command("list acme/app-db", slack_url))


def slack_gets_through_while_held(tmp_path: Path, slack_server: Any, planetscale_server: Any,
                                  opening: bytes) -> None:
    """600 connections each holding `opening`, an unfinished request, against a process with 400 file
    descriptors: Slack's request is still answered."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    process = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"), tmp_path,
                    port, open_files=400)
    held: list[socket.socket] = []
    try:
        for _ in range(600):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(opening)
            held.append(client)
        post(port, command("list acme/app-db", slack_server[1].url))
    finally:
        for client in held:
            client.close()
        process.terminate()
        process.wait(timeout=30)


def test_slack_gets_through_while_600_slow_heads_are_held(
        tmp_path: Path, slack_server: Any, planetscale_server: Any) -> None:
    """More slow connections than the process has file descriptors for: the slowest are closed to make room,
    rather than the server taking no connection at all, Slack's among them."""
    slack_gets_through_while_held(tmp_path, slack_server, planetscale_server,
                                  b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slow: a")


def test_a_checker_that_closes_its_side_after_asking_is_answered(served: tuple[int, str]) -> None:
    """`nc -N` shuts its side once it has asked: through the front, the answer still comes."""
    port, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while received := conn.recv(4096):
            answer += received
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer


def answer_to(port: int, request: bytes, wait: float = 10) -> bytes:
    """What the server answers to `request` (its first line and headers), sent at once."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as client:
        client.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer and (received := client.recv(4096)):
            answer += received
    return answer


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 10000000\r\n\r\n", b"413"),
    (b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n\r\n", b"411"),
    (b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"411"),
    (b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Padding: " + b"a" * 40_000 + b"\r\n\r\n", b"431"),
])
def test_a_request_the_front_will_not_hold_is_answered_with_its_reason(
        served: tuple[int, str], request_bytes: bytes, status: bytes) -> None:
    """Refused at the door, before its body is read: too large (413), no length to wait for (411), a head past
    its bound (431)."""
    port, slack_url = served
    assert answer_to(port, request_bytes).startswith(b"HTTP/1.1 " + status)
    post(port, command("list acme/app-db", slack_url))


def test_a_body_trickled_a_byte_at_a_time_is_answered_408(served: tuple[int, str]) -> None:
    """A whole head whose body never arrives in time (slowloris on the body) holds its connection only for
    REQUEST_SECONDS, and is told why."""
    port, slack_url = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 1000\r\n\r\na")
        client.settimeout(0.5)
        answer, deadline = b"", time.monotonic() + REQUEST_SECONDS + 5
        while time.monotonic() < deadline:
            try:
                client.sendall(b"a")
                received = client.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not received:
                break
            answer += received
    assert answer.startswith(b"HTTP/1.1 408"), answer
    post(port, command("list acme/app-db", slack_url))


def test_slack_gets_through_while_600_slow_bodies_are_held(
        tmp_path: Path, slack_server: Any, planetscale_server: Any) -> None:
    """A slow body is held by the front alone, and is among those closed to make room: Slack's request, whole,
    goes through."""
    slack_gets_through_while_held(tmp_path, slack_server, planetscale_server,
                                  b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 5000\r\n\r\na")

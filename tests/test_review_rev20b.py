"""Review rev20b (issue 20): the front against clients that read slowly or wait for `100 Continue`, and the bot
while PostgreSQL stops answering on the network."""

from __future__ import annotations

import socket
import time
from typing import Any

from processes import command, post
from test_bad_clients import served  # noqa: F401

from bot.runtime.front import REQUEST_SECONDS

# About 10 MB of answers: more than the kernel's buffers between the front and a client that does not read them
# hold (its send buffer grows to 4 MB), so the front's writes to that client stop.
PIPELINED_METRICS = 1500


def test_a_client_that_stops_reading_its_answers_is_cut_off(served: tuple[int, str]) -> None:
    """A client that asks and never reads what it asked for (a slow reader) holds its connection, three file
    descriptors and a request of uvicorn's, only for REQUEST_SECONDS: otherwise enough of them would hold every
    file descriptor, with no deadline for the front to close them by, and lock Slack out."""
    port, slack_url = served
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: bot\r\n\r\n" * PIPELINED_METRICS)
        time.sleep(REQUEST_SECONDS + 5)  # never reading meanwhile
        client.settimeout(10)
        answer = b""
        try:
            while received := client.recv(1 << 16):
                answer += received
        except OSError:
            pass  # reset: cut off
    assert answer.count(b"HTTP/1.1 200 OK") < PIPELINED_METRICS
    post(port, command("list acme/app-db", slack_url))

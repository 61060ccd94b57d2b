"""A kept-alive connection to Slack that the server closes while idle: the bot closes it first, and a request
that crossed the server's close (reset after it was sent) is not sent again, since Slack may have acted on it."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from urllib.error import URLError

import pytest

from bot.adapters import slack_http
from bot.adapters.slack_http import SlackClient, SlackHttp
from bot.emulators import serving

POSTED = b'{"ok":true,"channel":"C0DBAOPS01","ts":"1700000000.000100"}'  # chat.postMessage's answer, as Slack's
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(POSTED), POSTED)


class ClosingWhenIdle:
    """HTTP/1.1 keeping a connection `idle` seconds after each answer. A request arriving later is one its close
    crossed on the way (the close had not reached the client when it sent): the connection is reset, unanswered,
    as the kernel of a server that closed the socket answers."""

    def __init__(self, idle: float):
        self.idle = idle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api/"
        self.connections = self.answered = self.reset = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        answered_at: float | None = None
        with conn:
            while self.read_request(conn):
                if answered_at is not None and time.monotonic() - answered_at >= self.idle:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.reset += 1
                    return
                self.answered += 1  # counted before the client can read the answer and the test look
                conn.sendall(ANSWER)
                answered_at = time.monotonic()

    @staticmethod
    def read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            if not (chunk := conn.recv(65536)):
                return b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the thread in accept(), which close alone leaves there
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@pytest.fixture
def server() -> Iterator[ClosingWhenIdle]:
    server = ClosingWhenIdle(idle=0.5)
    yield server
    server.close()


def post_twice(server: ClosingWhenIdle, idle_seconds: float) -> None:
    client = SlackClient(SlackHttp(timeout=2, sleep=lambda _: None, idle_seconds=idle_seconds), token="xoxb-x",
                         base_url=server.url)
    try:
        client.chat_postMessage(channel="C0DBAOPS01", text="first")
        time.sleep(server.idle + 0.3)  # idle past the server's timeout
        client.chat_postMessage(channel="C0DBAOPS01", text="second")
    finally:
        client.http.close()


def test_a_connection_idle_past_the_servers_timeout_is_reset_and_the_post_not_sent_again(
        server: ClosingWhenIdle) -> None:
    """The soak's failure: kept longer than the server keeps it, the connection's next request meets a reset."""
    with pytest.raises(URLError, match="ReadError"):
        post_twice(server, idle_seconds=20)
    assert (server.answered, server.reset, server.connections) == (1, 1, 1)  # sent once: Slack may have posted


def test_the_bot_closes_an_idle_connection_before_the_server_does(server: ClosingWhenIdle) -> None:
    post_twice(server, idle_seconds=server.idle / 2)
    assert (server.answered, server.reset, server.connections) == (2, 0, 2)


def test_the_bots_idle_expiry_is_shorter_than_the_servers_it_talks_to() -> None:
    assert slack_http.IDLE_SECONDS < serving.IDLE_SECONDS

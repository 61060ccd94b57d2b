"""What a flood of bad clients writes to the log, and PlanetScale and Slack answers whose head never ends."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Bot, bot_over
from processes import access_rules, command, post, serve_env, start
from test_slow_slack_and_unreadable_answers import answering as answering  # the fixture

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.emulators.serving import BackgroundServer, free_port
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.settings import Settings

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


def test_a_flood_of_requests_no_http_parser_reads_is_logged_in_a_few_lines_not_one_a_request(
        crowded: tuple[int, str, Path]) -> None:
    """A request line of no HTTP version or method uvicorn knows, or a WebSocket upgrade where none is served: uvicorn
    answers each and wrote a warning for each, so anyone could write thousands of lines a minute. Told as the
    front's own floods are, once and then with how many."""
    port, slack_url, log = crowded
    odd = [b"GET /healthz HTTP/9.9\r\nHost: bot\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
           b"GET /healthz HTTP/1.1\r\nHost: bot\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"]
    for n in range(300):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(odd[n % len(odd)])
            assert client.recv(64).startswith(b"HTTP/1.1 "), "no answer"
    post(port, command("list acme/app-db", slack_url))
    said = [line for line in log.read_text().splitlines() if "Invalid HTTP request" in line
            or "Unsupported upgrade" in line]
    assert said, "the flood was not logged at all"
    assert len(said) <= 5, f"{len(said)} lines: {said[:3]}"


class TricklingHead:
    """A server at the HTTP edge that answers every request `200 OK` and then its header lines one every 0.2 s
    for `seconds` (a stalled proxy, a broken load balancer), or until it is closed, then a body. It counts the
    answers it is still trickling."""

    def __init__(self, seconds: float, body: bytes):
        self.seconds, self.body = seconds, body
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.trickling = 0
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(client,), daemon=True).start()

    def answer(self, client: socket.socket) -> None:
        with client:
            client.recv(65536)
            ends = time.monotonic() + self.seconds
            with self.lock:
                self.trickling += 1
            try:
                client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                line = 0
                while time.monotonic() < ends and not self.closed.wait(0.2):
                    line += 1
                    client.sendall(b"X-Slow-%d: a\r\n" % line)
            except OSError:
                return
            finally:
                with self.lock:  # before the head ends: no client can have its answer while this still counts it
                    self.trickling -= 1
            client.sendall(b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(self.body), self.body))

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):  # wakes the thread in accept(), which close alone leaves there
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@pytest.fixture
def trickling_planetscale(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
                          tmp_path: Path) -> Iterator[tuple[Bot, TricklingHead]]:
    """A bot whose PlanetScale trickles its answers' heads for 20 s; its client's timeouts are a second each."""
    server = TricklingHead(20, b"{}")
    client = PlanetScaleClient("id", "token", server.url + "/v1", retry=RetryPolicy(attempts=2),
                               sleep=lambda _: None, timeout=httpx.Timeout(1.0))
    for bot in bot_over(client, settings, slack, slack_server, tmp_path):
        yield bot, server
    server.close()


def test_an_answer_head_planetscale_trickles_without_end_is_given_up_on_as_too_slow(
        trickling_planetscale: tuple[Bot, TricklingHead]) -> None:
    """rev20d bounded the time of an answer's body, counted from the request; its head is read by httpx before
    that, each read bounded (15 s by default) but not the whole: header lines trickled one a second (or one
    every 14 s) hold the call, and the worker, for as long as they go on, beyond the bounds the leases and the
    watch are sized on (worst_case_seconds). Here they end after 20 s; the person was told, after all of it, that
    PlanetScale did not answer in time."""
    bot, server = trickling_planetscale
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert "did not answer in time" in said, said
    assert server.trickling > 0, "the person was told only once PlanetScale's answer had come whole"


@pytest.fixture
def trickling_slack(bot: Bot) -> Iterator[tuple[Bot, TricklingHead]]:
    """A bot whose response URLs are at a server that trickles its answers' heads for as long as the test runs;
    its Slack client's timeouts are two seconds each: long enough for its other Slack calls on a loaded machine,
    short enough that the trickled answer is given up on at 8 s (all four summed)."""
    server = TricklingHead(600, b"ok")
    bot.slack_url = server.url
    bot.deps.slack.http.client.timeout = httpx.Timeout(2.0)  # type: ignore[union-attr]
    yield bot, server
    server.close()


def test_an_answer_head_slack_trickles_without_end_is_given_up_on_as_too_slow(
        trickling_slack: tuple[Bot, TricklingHead]) -> None:
    """The Slack client read its answers with httpx's per-read timeout alone: a response URL (or a method) whose
    answer trickles, head or body, held the worker that posts it for as long as it went on (here, past the minute
    the test waits for the work to finish)."""
    bot, server = trickling_slack
    bot.command("list acme/app-db")
    assert server.trickling > 0, "the work was done only once the answer had come whole"




@pytest.mark.parametrize("status", [404, 503])
def test_an_error_code_of_megabytes_from_planetscale_is_not_logged_whole(
        answering: tuple[Bot, dict[str, Any]], status: int, caplog: pytest.LogCaptureFixture) -> None:
    """An error answer's `code` was logged whole with each try: a code of 4 MB (a broken gateway's page, a
    proxy's dump) wrote 4 MB log lines, one a try, for every command and every pass of the watch."""
    bot, answer = answering
    answer["status"], answer["body"] = status, json.dumps({"code": "x" * 4 * 2**20, "message": "no"}).encode()
    caplog.set_level(logging.INFO)
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert "PlanetScale" in said and "Something went wrong" not in said, said
    longest = max(len(r.getMessage()) for r in caplog.records)
    assert longest < 64 * 1024, f"a log line of {longest} bytes"

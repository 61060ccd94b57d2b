"""Threads waiting for answers' heads, answers compressed twice, SIGTERM with a worker."""

from __future__ import annotations

import contextlib
import gzip
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Bot, bot_over
from processes import access_rules, command, post, serve_env, start, wait_until
from test_slow_clients_and_stalled_postgresql import served_through_a_stalling_proxy

from bot.adapters.planetscale import PlanetScaleClient, PlanetScaleError, RetryPolicy
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer, free_port
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.settings import Settings

HEAD_THREADS = 32  # the client's threads that wait for answers' heads
NOT_FOUND = b'{"code": "not_found", "message": "Not Found"}'


class OneBadNode:
    """PlanetScale behind a load balancer one of whose nodes is broken: while `bad` is set, each new connection
    lands on it and its answer's head is trickled, a header line every 0.2 s, for as long as the test runs; once
    `bad` is cleared, new connections land on healthy nodes and are answered at once (404)."""

    def __init__(self) -> None:
        self.bad = True
        self.answered = 0
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(client, self.bad), daemon=True).start()

    def answer(self, client: socket.socket, bad: bool) -> None:
        with client:
            try:
                while True:
                    if not client.recv(65536):
                        return
                    if bad:
                        client.sendall(b"HTTP/1.1 200 OK\r\n")
                        line = 0
                        while not self.closed.wait(0.2):
                            line += 1
                            client.sendall(b"X-Slow-%d: a\r\n" % line)
                        return
                    self.answered += 1
                    client.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: %d\r\n\r\n%s" % (len(NOT_FOUND), NOT_FOUND))
            except OSError:
                return

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):  # wakes the thread in accept(), which close alone leaves there
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@pytest.fixture
def behind_one_bad_node(settings: Settings, slack: SlackState,
                        slack_server: tuple[SlackEmulator, BackgroundServer],
                        tmp_path: Path) -> Iterator[tuple[Bot, OneBadNode, PlanetScaleClient]]:
    server = OneBadNode()
    # The bad node's head lines come every 0.2 s: a read timeout far above that, so that a loaded machine's pause
    # does not end a trickle before the try's deadline gives up on it.
    client = PlanetScaleClient("id", "token", server.url + "/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, timeout=httpx.Timeout(0.5, read=5.0))
    for bot in bot_over(client, settings, slack, slack_server, tmp_path):
        yield bot, server, client
    server.close()


def test_planetscale_answered_again_is_reached_after_more_heads_trickled_than_the_pool_has_threads(
        behind_one_bad_node: tuple[Bot, OneBadNode, PlanetScaleClient], caplog: pytest.LogCaptureFixture) -> None:
    """Each answer whose head trickles holds one of the client's 32 head threads after its caller gave up, for as
    long as the trickle goes on (a byte every 14 s under the 15 s read timeout: some 64 hours before h11's 16 KB
    bound on a head). One broken node behind PlanetScale's load balancer, met 32 times (the watch's reads, a bulk
    update), then takes the whole of PlanetScale from the bot: every later request waits in the pool behind them
    and is given up on unsent, though every node that answers now answers at once (the person was told
    PlanetScale did not answer in time; PlanetScale never saw the request). Held threads no longer hold up new
    requests: they are counted and said, and the next request is sent and answered."""
    bot, server, client = behind_one_bad_node
    with ThreadPoolExecutor(HEAD_THREADS) as pool:  # people's and the watch's reads, together, on the bad node
        tries = [pool.submit(client.list_databases, "acme") for _ in range(HEAD_THREADS)]
        for tried in tries:
            with pytest.raises(PlanetScaleError):
                tried.result()
    held = [r.args[1] for r in caplog.records if r.name == "bot.adapters.within" and isinstance(r.args, tuple)]
    assert max(held) == HEAD_THREADS, held  # the threads still held are counted and said
    server.bad = False  # the node is out of rotation: new connections are answered at once
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert server.answered > 0, f"the request never reached PlanetScale; the person was told: {said}"
    assert "found nothing" in said, said


ENDS_AFTER_GIVING_UP = """
import sys, time, httpx
from bot.adapters.within import Within
within = Within(httpx.Client(timeout=httpx.Timeout(0.5)), "test")
try:
    within.send(httpx.Request("GET", sys.argv[1]), time.monotonic() + 1)
except httpx.ReadTimeout:
    print("given up")
"""


def test_a_process_ends_though_a_head_it_gave_up_on_still_trickles() -> None:
    """A thread that waits for a head is let run once its caller gives up; Python waits for a thread pool's
    threads at exit, so a head that trickles on held up the end of `doctor`, `status` or `serve` after a clean
    drain. The process ends once its work is done, the head still trickling."""
    server = OneBadNode()
    try:
        done = subprocess.run([sys.executable, "-c", ENDS_AFTER_GIVING_UP, server.url], capture_output=True,
                              text=True, timeout=60, check=False)
        assert not server.closed.is_set()  # the head trickled all along
    finally:
        server.close()
    assert (done.returncode, done.stdout.strip()) == (0, "given up"), done.stderr


def gzipped_twice(megabytes: int) -> bytes:
    """Spaces, `megabytes` of them, gzipped and gzipped again: a few kilobytes on the wire."""
    once = gzip.compress(b" " * (megabytes * 2**20))
    return gzip.compress(once)


@pytest.fixture
def compressing(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
                tmp_path: Path) -> Iterator[tuple[Bot, dict[str, Any]]]:
    """A bot whose PlanetScale, at the HTTP edge, streams the status, body and Content-Encoding the test sets."""
    answer: dict[str, Any] = {}
    def answered(_: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.get("status", 200), content=iter([answer["body"]]),
                              headers={"content-type": "application/json", "content-encoding": answer["encoding"]})

    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, transport=httpx.MockTransport(answered))
    for bot in bot_over(client, settings, slack, slack_server, tmp_path):
        yield bot, answer


def test_an_answer_compressed_twice_is_refused_without_being_undone_whole(
        compressing: tuple[Bot, dict[str, Any]]) -> None:
    """rev20d bounds a body at 16 MB once its Content-Encoding is undone, chunk by chunk; httpx undoes each chunk
    whole, and undoes every encoding the answer names: a few kilobytes gzipped twice (`gzip, gzip`) became one
    chunk of 96 MB here, held twice over while it was joined, before the bound was looked at (a few more kilobytes
    make gigabytes, and the kernel ends the process). Here it is 96 MB, and the bot must refuse it within a few
    times its bound."""
    bot, answer = compressing
    answer.update(body=gzipped_twice(96), encoding="gzip, gzip")
    assert len(answer["body"]) < 2**20
    tracemalloc.start()
    try:
        said = bot.command("show acme/app-db bp01prod12h").all_text()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "over 16 MB" in said, said
    assert peak < 64 * 2**20, f"{peak // 2**20} MB held at once"


def test_an_answer_compressed_as_http_allows_is_still_read(compressing: tuple[Bot, dict[str, Any]]) -> None:
    """The bound keeps what httpx read: gzip, deflate and both, undone (here PlanetScale's 404, readable)."""
    bot, answer = compressing
    for encoding, body in [("gzip", gzip.compress(NOT_FOUND)), ("deflate", zlib.compress(NOT_FOUND)),
                           ("deflate, gzip", gzip.compress(zlib.compress(NOT_FOUND)))]:
        answer.update(status=404, body=body, encoding=encoding)
        said = bot.command("show acme/app-db bp01prod12h").all_text()
        assert "found nothing" in said, (encoding, said)


@pytest.fixture
def served_sqlite(tmp_path: Path, slack_server: Any, planetscale_server: Any) -> Iterator[tuple[int, Any]]:
    """`serve` as a process, with its one worker (BACKUP_BOT_WORKERS's default)."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    process = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"), tmp_path, port)
    try:
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_work_acked_in_a_burst_just_before_sigterm_is_all_done(served_sqlite: tuple[int, Any], slack_server: Any,
                                                               slack: SlackState) -> None:
    """SIGTERM right after a burst of acks: the front hands each request's work to the worker once the inbox has
    it, and asks the worker to stop after its last ack; work acked is done before `serve` ends, none twice."""
    port, process = served_sqlite
    slack_url = slack_server[1].url
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda i: post(port, command("list acme/app-db", slack_url).replace(
            "response%2F9", f"response%2Fburst{i}")), range(24)))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises it once done
    answered = sorted(e.response_key or "" for e in slack.events if e.kind == "response")
    assert answered == sorted(f"burst{i}" for i in range(24)), answered


def test_work_acked_while_the_database_stalls_just_before_sigterm_is_not_lost(
        tmp_path: Path, slack_server: Any, planetscale_server: Any, planetscale: PlanetScaleState,
        postgres_url: str) -> None:
    """The front acks once the inbox has a request's work or after 0.25 s, and hands it to the worker once
    written. Its drain on SIGTERM waited only for work in its own pool: work still being written to a stalled
    database was not waited for, the process ended with the write unsent, and a change acked was never made by
    this instance or the next."""
    proxy, process, port = served_through_a_stalling_proxy(tmp_path, slack_server, planetscale_server, postgres_url)
    try:
        proxy.flowing.clear()
        post(port, command('update acme/app-db "Production daily" retention=9d', slack_server[1].url))
        process.send_signal(signal.SIGTERM)
        time.sleep(2)
        proxy.flowing.set()
        process.wait(timeout=60)
    finally:
        proxy.close()
        if process.poll() is None:
            process.kill()
    again = start(serve_env(slack_server, planetscale_server, postgres_url), tmp_path, free_port(), "again.log")
    try:
        wait_until(lambda: planetscale.calls("PATCH"), "the change acked before SIGTERM was lost", timeout=60)
    finally:
        again.terminate()
        again.wait(timeout=30)
    assert planetscale.policy("acme", "app-db", "bp01prod12h")["retention_value"] == 9

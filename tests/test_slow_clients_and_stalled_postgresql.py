"""The front against clients that read slowly or wait for `100 Continue`, and the bot while PostgreSQL stops
answering on the network."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from approval_helpers import PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import SIGNING_SECRET, Bot
from processes import access_rules, command, post, serve_env, start, wait_until
from slack_bolt import BoltRequest
from test_bad_clients import served as served  # the fixture
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import signed_headers
from bot.runtime.executor import STILL_WORKING, STILL_WORKING_SECONDS
from bot.runtime.front import REQUEST_SECONDS
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE

# About 10 MB of answers: more than the kernel's buffers between the front and a client that does not read them
# hold (its send buffer grows to 4 MB), so the front's writes to that client stop.
PIPELINED_METRICS = 1500


@pytest.fixture
def served_alone(tmp_path: Path, slack_server: Any, planetscale_server: Any) -> Iterator[tuple[int, str]]:
    """`serve` in one process (no worker): its /metrics answers come without a worker's, fast enough to fill the
    kernel's buffers to a client well within a test's wait. The front that cuts a client off is the same."""
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    env = serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}")
    process = start({**env, "BACKUP_BOT_WORKERS": "0"}, tmp_path, port)
    try:
        yield port, slack_server[1].url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_client_that_stops_reading_its_answers_is_cut_off(served_alone: tuple[int, str]) -> None:
    """A client that asks and never reads what it asked for (a slow reader) holds its connection, three file
    descriptors and a request of uvicorn's, only for REQUEST_SECONDS: otherwise enough of them would hold every
    file descriptor, with no deadline for the front to close them by, and lock Slack out."""
    port, slack_url = served_alone
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


class StallingProxy:
    """A TCP proxy in front of PostgreSQL that can stop forwarding, in both directions, while keeping every
    connection open (a pooler, a proxy or a network path that hangs): PostgreSQL never sees the statements sent
    meanwhile, so its own statement_timeout cannot end them."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self.connect, args=(client,), daemon=True).start()

    def connect(self, client: socket.socket) -> None:
        self.flowing.wait()
        server = socket.create_connection(self.target)
        threading.Thread(target=self.pump, args=(client, server), daemon=True).start()
        self.pump(server, client)

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                self.flowing.wait()
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.flowing.set()
        with contextlib.suppress(OSError):  # wakes the thread in accept(), which close alone leaves there
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


def served_through_a_stalling_proxy(tmp_path: Path, slack_server: Any, planetscale_server: Any,
                                    postgres_url: str) -> tuple[StallingProxy, subprocess.Popen[bytes], int]:
    """`serve` (no approvals asked) on the PostgreSQL at `postgres_url` reached through a StallingProxy: the proxy,
    the process and its port."""
    given = sa.engine.make_url(postgres_url)  # its port may be left to PostgreSQL's default
    proxy = StallingProxy((given.host or "127.0.0.1", given.port or 5432))
    url = given.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    return proxy, start(serve_env(slack_server, planetscale_server, url), tmp_path, port), port


@pytest.fixture
def stalling(tmp_path: Path, slack_server: Any, planetscale_server: Any,
             postgres_url: str) -> Iterator[tuple[int, StallingProxy]]:
    """`serve` on PostgreSQL through a StallingProxy."""
    proxy, process, port = served_through_a_stalling_proxy(tmp_path, slack_server, planetscale_server, postgres_url)
    try:
        yield port, proxy
    finally:
        proxy.close()
        process.terminate()
        process.wait(timeout=30)


def test_a_database_that_stops_answering_on_the_network_holds_no_ack_and_loses_no_change(
        stalling: tuple[int, StallingProxy], slack_server: Any, planetscale: PlanetScaleState) -> None:
    port, proxy = stalling
    proxy.flowing.clear()
    post(port, command('update acme/app-db "Production daily" retention=9d', slack_server[1].url))
    assert planetscale.calls("PATCH") == []  # acked while the database holds the work's first write
    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert health.status_code == 503 and "not answering" in health.json()["database"]
    proxy.flowing.set()
    wait_until(lambda: planetscale.calls("PATCH"), "the acked change was lost while the database stalled")
    assert planetscale.policy("acme", "app-db", "bp01prod12h")["retention_value"] == 9
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200


def test_a_person_is_told_when_the_database_stops_answering_on_the_network(
        stalling: tuple[int, StallingProxy], slack_server: Any, slack: SlackState,
        planetscale: PlanetScaleState) -> None:
    port, proxy = stalling
    proxy.flowing.clear()
    post(port, command('update acme/app-db "Production daily" retention=9d', slack_server[1].url))
    deadline = time.monotonic() + STILL_WORKING_SECONDS + 15
    while not [e for e in slack.events if e.kind in ("response", "ephemeral")] and time.monotonic() < deadline:
        time.sleep(0.5)
    told = [e.text for e in slack.events if e.kind in ("response", "ephemeral")]
    assert told and "database" in " ".join(told).lower(), told
    proxy.flowing.set()  # and once it answers again, the change is made and told
    wait_until(lambda: any("changed the backup policy" in e.text for e in slack.events), "the change was lost")
    assert planetscale.policy("acme", "app-db", "bp01prod12h")["retention_value"] == 9


def test_an_instance_never_takes_over_its_own_work_as_left_by_a_stopped_one(store_url: str) -> None:
    """The inbox row of a request written while the database stalled lands with its lease already past (its time
    was taken before the stall): the instance doing the work must not read it as left by a stopped instance and
    start the same work a second time beside the first. Another instance still takes it over if this one stops."""
    from bot.adapters.store import Store
    from bot.adapters.store.inbox import LEASE_SECONDS, Inbox

    store = Store(store_url)
    store.migrate()
    mine, other = (Inbox(lambda: store.engine, holder) for holder in ("me:1", "other:2"))
    try:
        assert mine.take("digest:1", '{"body": ""}')
        mine.ahead = other.ahead = LEASE_SECONDS + 1  # landed, or last renewed, longer ago than its lease
        assert mine.take_over() == []
        assert other.take_over() == [("digest:1", '{"body": ""}')]
    finally:
        store.close()


def test_one_malformed_policy_hides_not_the_drift_of_the_others_in_its_database(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    import json

    bot, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    with planetscale.lock:
        listed = sorted(planetscale.policies[("acme", "app-db")].values(), key=lambda p: p["id"])
    broken = {**listed[0], "id": "bpbroken", "name": "Broken", "updated_at": 17}
    planetscale.add_fault(Fault(status=200, times=None, path_contains="app-db/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": [*listed, broken]})))
    _, cursor = bot.slack.events_since(0)
    watcher.run_once()
    events, _ = bot.slack.events_since(cursor)
    posted = [e for e in events if e.kind == "message"]
    assert SKIPPED_HEADLINE in [e.text for e in posted] and "bpbroken" in json.dumps([e.blocks for e in posted])
    assert [e.text for e in posted if e.text.startswith(":eyes:")], [e.text for e in posted]
    # While it stays unreadable: a policy deleted beside it is told as deleted, the unreadable one neither as
    # deleted nor as created, and the skip is not told again.
    planetscale.faults.clear()
    planetscale.dashboard_delete("acme", "app-db", "bp03devday")
    with planetscale.lock:
        listed = sorted(planetscale.policies[("acme", "app-db")].values(), key=lambda p: p["id"])
    # Asked for by its ID, the deleted policy is not found (the list's answer below would match its path too).
    planetscale.add_fault(Fault(status=404, times=None, path_contains="backup-policies/bp03devday"))
    planetscale.add_fault(Fault(status=200, times=None, path_contains="app-db/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": [*listed, broken]})))
    _, cursor = bot.slack.events_since(0)
    watcher.run_once()
    events, _ = bot.slack.events_since(cursor)
    assert [e.text.split(":")[1] for e in events if e.kind == "message"] == ["wastebasket"], events
    told = json.dumps([e.blocks for e in events])
    assert "Development daily" in told and "Broken" not in told and "bpbroken" not in told


def test_a_client_that_waits_for_100_continue_before_its_body_is_answered(served: tuple[int, str]) -> None:
    """`Expect: 100-continue` (curl's way with a body over a kilobyte; other clients wait longer): the front holds a
    request until its body has arrived, so it answers `100 Continue` itself, or the client waits for nothing."""
    port, slack_url = served
    body = command("list acme/app-db", slack_url).encode()
    head = dict(signed_headers(SIGNING_SECRET, body.decode()))
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_SECONDS + 5) as client:
        client.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nExpect: 100-continue\r\n"
                       + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items())
                       + b"Content-Length: %d\r\n\r\n" % len(body))
        interim = client.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        client.sendall(body)
        answer = b""
        while b"HTTP/1.1 200 OK\r\n" not in answer and (received := client.recv(4096)):
            answer += received
    assert b"HTTP/1.1 200 OK\r\n" in answer, answer



def test_metrics_scraped_while_the_database_stops_answering_hold_no_ack(bot: Bot) -> None:
    """A scraper keeps asking /metrics while PostgreSQL stops answering: each scrape's count of open requests
    waits on the database. Scrapes must not take the threads Bolt answers Slack on, as /healthz's checks do not."""
    from bot.emulators.serving import BackgroundServer
    from bot.runtime.metrics import count_pending
    from bot.runtime.server import create_asgi_app

    released = threading.Event()
    count_pending(lambda: int(released.wait(60)))  # the database stopped answering
    try:
        with BackgroundServer(create_asgi_app(bot.app)) as running:
            for _ in range(12):  # two scrapers every 15 s, for a minute and a half
                with contextlib.suppress(httpx.TimeoutException):
                    httpx.get(f"{running.url}/metrics", timeout=0.2)
            body = bot.command_body("list acme/app-db")
            answer = httpx.post(f"{running.url}/slack/events", content=body, timeout=10,
                                headers=dict(signed_headers(SIGNING_SECRET, body)))
            assert answer.status_code == 200 and not released.is_set()
            scrape = httpx.get(f"{running.url}/metrics", timeout=10)
            assert scrape.status_code == 503 and "not answering" in scrape.text
            released.set()
            assert "backup_bot_requests_pending" in httpx.get(f"{running.url}/metrics", timeout=10).text
    finally:
        released.set()
        count_pending(lambda: 0)


def test_work_held_past_its_bound_is_told_once_and_its_answer_still_comes(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    """Whatever holds a command's work after its ack (here PlanetScale, held by the test), its person hears that it
    is still being worked on, once, and then the answer."""
    held = threading.Event()
    bot.executor.still_working_after = 0.2  # the test's bound, for STILL_WORKING_SECONDS
    planetscale.add_fault(Fault(until=held, times=None, method="GET"))
    try:
        body = bot.command_body("list acme/app-db")  # dispatched as Bot.send does, without waiting for the work
        assert bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))).status == 200
        wait_until(lambda: any(STILL_WORKING in e.text for e in bot.slack.events), "nobody was told", timeout=20)
    finally:
        held.set()
    assert bot.executor.wait_idle(60)
    said = [e.text for e in bot.slack.events if e.kind in ("response", "ephemeral")]
    assert sum(STILL_WORKING in text for text in said) == 1 and len(said) == 2, said

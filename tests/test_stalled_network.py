"""A PostgreSQL network that stalls (packets dropped, not refused) under the inbox writer's kept connection: the
server's statement timeout never hears of the write, which waited for the kernel's retransmissions (minutes) with
every later ack's write queued behind it. The write fails within its bound and says why; the ack is not held.
Between the bot and PostgreSQL, a proxy of the test's own that stops forwarding on cue."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ALICE, OPEN_RULES, SIGNING_SECRET, acked_while
from processes import wait_until
from slack_bolt import BoltRequest
from sqlalchemy.engine import make_url

from bot.adapters.store import Store
from bot.adapters.store import inbox as inbox_module
from bot.adapters.store.inbox import Inbox
from bot.domain.access_file import StaticRules
from bot.domain.access_rules import parse_rules
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import signed_headers, slash_command_body
from bot.runtime.app import build_app, build_dependencies
from bot.runtime.executor import STILL_WORKING, TrackedExecutor


class StallingProxy:
    """Forwards TCP to `upstream` until `stalled` is set; from then on it reads and drops what either side sends,
    holding every connection open (a new one too): nothing is refused, nothing arrives."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.stalled = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if not self.stalled.is_set():
                    dst.sendall(data)

    def close(self) -> None:
        for each in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                each.close()


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[StallingProxy, str]]:
    url = make_url(postgres_url)
    Store(postgres_url).migrate()
    proxy = StallingProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


# The writer's connection kept (used again at once, whatever the machine's pace), or given back after each write and
# taken again, checked first: the check stalls as the write would.
@pytest.mark.parametrize("kept_seconds", [3600.0, 0.0], ids=["kept", "checked-again"])
def test_a_stalled_network_fails_the_inbox_write_within_its_bound_and_never_holds_the_ack(
        kept_seconds: float, proxied: tuple[StallingProxy, str], settings: Any, slack: SlackState,
        planetscale_client: Any, slack_server: Any, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, url = proxied
    monkeypatch.setattr(inbox_module, "KEPT_SECONDS", kept_seconds)
    store = Store(url)
    executor = TrackedExecutor()
    deps = build_dependencies(settings, planetscale_client, store, executor, StaticRules(parse_rules(OPEN_RULES)))
    app = build_app(settings, deps)
    inbox = executor.inbox
    assert isinstance(inbox, Inbox)

    def command(text: str, trigger: str) -> int:
        body = slash_command_body(text, user_id=ALICE, user_name="alice", channel_id="C0DBAOPS01",
                                  channel_name="db-ops", response_url=f"{slack_server[1].url}/response/1",
                                  trigger_id=trigger)
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))).status

    try:
        assert command("help", "1.1") == 200  # the writer's connection is made and kept
        assert executor.wait_idle(timeout=30)
        caplog.set_level(logging.INFO)
        before = len(slack.events)
        proxy.stalled.set()
        assert acked_while(lambda: command("list acme/app-db", "2.2")) == 200
        wait_until(lambda: "did not answer the inbox's write within" in caplog.text, "the write hung", timeout=60)
        # The work waits for the database to write its row, not the writer, and its person is told in words
        # meanwhile, not left waiting.
        wait_until(lambda: any(e.kind == "response" and STILL_WORKING in e.text for e in slack.events[before:]),
                   "alice was not told", timeout=60)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)

"""Connections: the bot reuses its connections to Slack and PlanetScale; the emulators can put a real network's
round trips and HTTPS in front of them, and count the connections clients open."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.error import URLError

import httpx
import pytest
from conftest import Bot

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.slack_http import SlackClient, SlackHttp
from bot.domain.ports import Unavailable
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, Fault, PlanetScaleState
from bot.emulators.serving import BackgroundServer, ThrowawayTLS
from bot.emulators.slack import MethodFault, SlackEmulator, SlackState
from bot.runtime.app import build_app, planetscale_transport
from bot.runtime.settings import Settings, SettingsError

ROUND_TRIP = 0.2


async def hello(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_slack_calls_and_answers_go_over_kept_alive_connections(
    bot: Bot, slack_server: tuple[SlackEmulator, BackgroundServer],
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer]
) -> None:
    slack_before, planetscale_before = slack_server[1].connections, planetscale_server[1].connections
    for i in range(6):
        assert bot.command("list acme/app-db").private  # answered through the response URL
        assert bot.command(f"update acme/app-db bp03devday retention={4 + i}d").public  # chat.postMessage
    assert len([e for e in bot.slack.events if e.kind in ("response", "message")]) == 12
    # One command at a time: each call finds the previous one's connection free (Slack's was opened by
    # auth.test when the app was built); an update reads the database's branches beside its policies, so
    # PlanetScale's two reads at once take two connections, both kept for the next updates.
    assert slack_server[1].connections - slack_before <= 1
    assert planetscale_server[1].connections - planetscale_before <= 2


def test_slacks_rate_limit_is_still_retried_over_the_pool(bot: Bot, slack: SlackState) -> None:
    slack.add_fault(MethodFault("chat.postMessage", status=429, retry_after=0))
    reply = bot.command("update acme/app-db bp03devday retention=9d")
    assert len(reply.of_kind("message")) == 1
    assert len(slack.method_calls("chat.postMessage")) == 2


def test_an_unreachable_slack_is_raised_as_urllib_would_raise_it_for_slack_sdk() -> None:
    # Callers catch OSError for "Slack could not be reached", as they did with slack_sdk's urllib.
    client = SlackClient(SlackHttp(timeout=2, sleep=lambda _: None), token="xoxb-x", base_url="http://127.0.0.1:9/api/")
    with pytest.raises(URLError):
        client.chat_postMessage(channel="C1", text="hello")


def test_a_slack_that_answers_too_late_is_counted_in_the_metrics(bot: Bot, slack: SlackState) -> None:
    failed: list[tuple[str, str]] = []
    client = SlackClient(SlackHttp(timeout=0.5, sleep=lambda _: None), token="xoxb-x",
                         base_url=bot.app.client.base_url, on_error=lambda *call: failed.append(call))
    answered = threading.Event()  # Slack answers once the client has stopped waiting, however slow the machine
    slack.add_fault(MethodFault("chat.postMessage", until=answered, times=1))
    try:
        with pytest.raises(TimeoutError):
            client.chat_postMessage(channel="C1", text="hello")
    finally:
        answered.set()
    assert failed == [("chat.postMessage", "connection")]


def test_an_unreachable_slack_at_start_is_one_line_naming_the_token_check(bot: Bot, settings: Settings) -> None:
    unreachable = dataclasses.replace(settings, slack_api_url="http://127.0.0.1:9/api/")
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN could not be verified with Slack"):
        build_app(unreachable, dataclasses.replace(bot.deps, slack=None))


def test_the_emulator_counts_the_connections_clients_open() -> None:
    with BackgroundServer(hello) as server:
        with httpx.Client() as client:
            for _ in range(3):
                client.get(server.url)
        for _ in range(2):
            httpx.get(server.url)
        assert server.connections == 3


@pytest.fixture
def distant() -> Iterator[BackgroundServer]:
    with BackgroundServer(hello, latency=ROUND_TRIP) as server:
        yield server


def test_latency_costs_a_new_connection_two_round_trips_and_a_kept_one_one(distant: BackgroundServer) -> None:
    with httpx.Client() as client:
        started = time.monotonic()
        assert client.get(distant.url).text == "hello"
        first = time.monotonic() - started
        started = time.monotonic()
        assert client.get(distant.url).text == "hello"
        second = time.monotonic() - started
    assert first >= 2 * ROUND_TRIP  # the TCP handshake, then the request
    assert ROUND_TRIP <= second < 2 * ROUND_TRIP
    assert distant.connections == 1


def test_https_with_a_throwaway_certificate_costs_its_handshake_too() -> None:
    tls = ThrowawayTLS()
    try:
        with BackgroundServer(hello, latency=ROUND_TRIP, tls=tls) as server:
            assert server.url.startswith("https://127.0.0.1:")
            with pytest.raises(httpx.ConnectError):
                httpx.get(server.url)  # not trusted without the run's own authority
            with httpx.Client(verify=ssl.create_default_context(cafile=tls.ca_file)) as client:
                started = time.monotonic()
                assert client.get(server.url).text == "hello"
                assert time.monotonic() - started >= 3 * ROUND_TRIP  # TCP, TLS, then the request
    finally:
        tls.close()


def test_planetscale_timeouts_over_kept_alive_connections_are_retried_then_reported(
    planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer], planetscale: PlanetScaleState
) -> None:
    answered = threading.Event()  # PlanetScale answers once the client has given up, however slow the machine
    planetscale.add_fault(Fault(until=answered, times=2, method="GET"))
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, planetscale_server[1].url + "/v1",
                               timeout=httpx.Timeout(0.2), retry=RetryPolicy(attempts=2), sleep=lambda _: None,
                               transport=planetscale_transport())
    try:
        with pytest.raises(Unavailable, match="did not answer in time"):
            client.list_policies("acme", "app-db")
    finally:
        answered.set()
    assert len(client.list_policies("acme", "app-db")) == 3  # a fresh connection after the timed-out ones


def test_an_unreachable_planetscale_is_named_over_the_kept_alive_pool() -> None:
    client = PlanetScaleClient("id", "token", "http://127.0.0.1:9/v1", retry=RetryPolicy(attempts=1),
                               transport=planetscale_transport())
    with pytest.raises(Unavailable, match="Could not reach PlanetScale"):
        client.list_policies("acme", "app-db")


def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    closed = threading.Semaphore(0)

    def serve_once_each() -> None:  # answers one request per connection, then closes it without saying so
        for _ in range(2):
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            time.sleep(0.1)
            conn.close()
            closed.release()

    server = threading.Thread(target=serve_once_each, daemon=True)
    server.start()
    client = httpx.Client(transport=planetscale_transport(), timeout=5)
    try:
        for _ in range(2):  # a reused closed connection would fail the second with RemoteProtocolError
            assert client.get(f"http://127.0.0.1:{port}/").content == b"ok"
            # Idle until the server has closed it: a fixed pause, on a loaded machine, may end before the close.
            assert closed.acquire(timeout=30)
    finally:
        client.close()
        listener.close()
    server.join(5)
    assert not server.is_alive()  # both connections were opened and served

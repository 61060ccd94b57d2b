"""Against the server `backup-bot serve` runs: Starlette and uvicorn over real HTTP, signed as Slack signs."""

from __future__ import annotations

import concurrent.futures
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import SIGNING_SECRET, Bot, acked_while

from bot.adapters import migrations
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack_requests import signed_headers
from bot.runtime.server import MAX_BODY_BYTES, create_asgi_app


@pytest.fixture
def server(bot: Bot) -> Iterator[str]:
    # as `backup-bot serve` runs
    with BackgroundServer(create_asgi_app(bot.app, signing_secret=SIGNING_SECRET)) as running:
        yield running.url


def post(server: str, body: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server}/slack/events", content=body,
                      headers=headers or dict(signed_headers(SIGNING_SECRET, body)), timeout=10)  # type: ignore[arg-type]


def test_update_through_http_sends_exactly_one_patch_and_posts_the_result(
    bot: Bot, server: str, planetscale: PlanetScaleState
) -> None:
    body = bot.command_body('update acme/app-db "Production daily" retention=30d frequency=12h at=02:00')
    answer = post(server, body)
    assert answer.status_code == 200
    assert bot.executor.wait_idle(30)
    [patch] = planetscale.calls("PATCH")
    assert patch.body == {"retention_value": 30, "retention_unit": "day", "frequency_value": 12,
                          "frequency_unit": "hour", "schedule_time": "02:00"}
    [posted] = [e for e in bot.slack.events if e.kind == "message"]
    assert "kept 30 days" in json.dumps(posted.blocks)


def test_the_ack_beats_slacks_three_seconds_while_planetscale_hangs(
    bot: Bot, server: str, planetscale: PlanetScaleState
) -> None:
    answering = threading.Event()
    planetscale.add_fault(Fault(until=answering, method="GET"))
    try:
        answer = acked_while(lambda: post(server, bot.command_body('update acme/app-db "Production daily" '
                                                                   'retention=30d')))
        assert answer.status_code == 200
        assert planetscale.calls("PATCH") == []  # still waiting on the held read
    finally:
        answering.set()
    assert bot.executor.wait_idle(30)
    assert len(planetscale.calls("PATCH")) == 1


def test_bad_input_over_http_is_answered_to_the_caller_and_sends_nothing(
    bot: Bot, server: str, planetscale: PlanetScaleState
) -> None:
    answer = post(server, bot.command_body('update acme/app-db "Production daily" retention=5m'))
    assert answer.status_code == 200 and "ambiguous" in answer.text
    assert bot.executor.wait_idle(30)
    assert planetscale.calls() == [] and bot.slack.events == []


@pytest.mark.parametrize("headers", [
    {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": "1",
     "x-slack-signature": "v0=00"},
])
def test_unsigned_requests_get_401(bot: Bot, server: str, planetscale: PlanetScaleState,
                                   headers: dict[str, str]) -> None:
    answer = post(server, bot.command_body("list acme/app-db"), headers)
    assert answer.status_code == 401
    assert bot.executor.wait_idle(30) and planetscale.calls() == []


def test_a_replayed_request_older_than_five_minutes_is_refused(bot: Bot, server: str) -> None:
    body = bot.command_body("help")
    old = dict(signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 301))
    assert post(server, body, old).status_code == 401  # type: ignore[arg-type]


def test_an_oversized_body_is_refused_before_it_is_read(server: str) -> None:
    answer = httpx.post(f"{server}/slack/events", content=b"x" * 300_000, timeout=10)
    assert answer.status_code == 413


def test_a_chunked_body_is_refused_once_it_passes_the_limit_not_read_to_its_end(bot: Bot) -> None:
    """No Content-Length to check first: the server counts while it reads, and answers 413 at the limit."""
    read = 0

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        # What the app took in, not what the client managed to send: the kernel's socket buffers hold megabytes
        # the app never reads, more of them the later the server's thread gets the CPU.
        async def counted() -> Any:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            return message

        await app(scope, counted, send)

    app = create_asgi_app(bot.app)
    chunk, total, sent = b"x" * 65536, 32 * 1024 * 1024, 0
    with BackgroundServer(counting) as running, \
            socket.create_connection((running.host, running.port), timeout=10) as conn:
        conn.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        answer = b""
        # A selector, not select(): the suite's process may hold descriptors past select()'s 1024.
        answered = selectors.DefaultSelector()
        answered.register(conn, selectors.EVENT_READ)
        try:
            while sent < total and not answered.select(0):
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if sent >= total:
                conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection: its answer is already on its way
        finally:
            answered.close()
        while b"\r\n" not in answer:
            received = conn.recv(4096)
            if not received:
                break
            answer += received
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert sent < total, "the answer came only once the whole body was sent"
    # The chunk that crosses the limit is what uvicorn had buffered (a few hundred kilobytes at most).
    assert read < MAX_BODY_BYTES + 1024 * 1024, f"the app read {read} bytes before it answered"


def test_the_server_keeps_answering_while_a_listener_takes_its_time_before_its_ack(bot: Bot, server: str) -> None:
    """Listeners run off the event loop: one waiting (as `edit` waits on views.open) holds up no other request."""
    entered, release = threading.Event(), threading.Event()

    @bot.app.command("/slow")
    def slow(ack: Any) -> None:
        entered.set()
        release.wait(20)
        ack("done")

    body = bot.command_body("x").replace("%2Fbackup-policy", "%2Fslow")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow_answer = pool.submit(post, server, body)
        assert entered.wait(60)
        assert post(server, bot.command_body("help")).status_code == 200  # answered while /slow still waits
        assert not slow_answer.done()
        release.set()
        assert slow_answer.result(20).text == "done"


def test_a_body_that_is_not_utf8_is_refused_as_unsigned_whatever_its_time_stamp(
        server: str, caplog: pytest.LogCaptureFixture) -> None:
    body = b"token=\xff\xfe"
    answer = httpx.post(f"{server}/slack/events", content=body, timeout=10,
                        headers={"content-type": "application/x-www-form-urlencoded",
                                 "x-slack-request-timestamp": str(int(time.time())), "x-slack-signature": "v0=00"})
    assert answer.status_code == 401
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_healthz(server: str) -> None:
    answer = httpx.get(f"{server}/healthz", timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert httpx.get(f"{server}/slack/events", timeout=10).status_code == 405


def test_a_head_healthz_is_answered_to_a_checker_that_closes_its_side_after_asking(server: str) -> None:
    """A HEAD's answer is a head alone, with no body to follow it; a checker that shuts its side of the connection
    once it has asked (as `nc -N` does) makes the server's transport close itself just after it is answered."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while received := conn.recv(4096):
            answer += received
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n"), answer


def test_healthz_reflects_the_database_and_a_bad_access_reload(bot: Bot, tmp_path: Any) -> None:
    import os

    from bot.adapters.store import Store
    from bot.domain.access_file import AccessFile
    from bot.runtime.app import health_report

    rules = tmp_path / "access.toml"
    rules.write_text('[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0ALICE001"]\n')
    bot.deps.access.source = AccessFile(str(rules))
    with BackgroundServer(create_asgi_app(bot.app, health=lambda: health_report(bot.deps))) as running:
        healthy = httpx.get(f"{running.url}/healthz", timeout=10)
        assert healthy.status_code == 200
        assert healthy.json() == {"status": "ok", "database": f"schema version {migrations.head()}"}

        rules.write_text("[[rules]]\nbroken =\n")
        os.utime(rules, (time.time() - 5, time.time() - 5))  # written whole a while ago
        bot.command("list acme/app-db")  # the next decision reads the file again, and keeps the last good rules
        reloaded = httpx.get(f"{running.url}/healthz", timeout=10).json()
        assert reloaded["status"] == "ok" and "keeping the last good rules" in reloaded["access_rules"]

        bot.deps.store = Store("postgresql://nobody@127.0.0.1:1/none")
        down = httpx.get(f"{running.url}/healthz", timeout=10)
        assert down.status_code == 503 and down.json()["status"] == "unavailable"
        assert "database unreachable" in down.json()["database"]


def test_acks_are_answered_while_the_database_behind_healthz_stops_answering(bot: Bot) -> None:
    import threading

    stalled = threading.Event()
    released = threading.Event()

    def health() -> dict[str, Any]:
        stalled.set()
        released.wait(30)  # PostgreSQL stopped answering
        return {"status": "ok"}

    with BackgroundServer(create_asgi_app(bot.app, health=health, health_timeout=1.0)) as running:
        checks: list[httpx.Response] = []
        checker = threading.Thread(target=lambda: checks.append(httpx.get(f"{running.url}/healthz", timeout=20)))
        checker.start()
        try:
            assert stalled.wait(60)
            answer = post(running.url, bot.command_body("list acme/app-db"))
            assert answer.status_code == 200 and not released.is_set()
            checker.join(20)
            [check] = checks
            assert check.status_code == 503 and "not answering" in check.json()["database"]
        finally:
            released.set()
            checker.join(20)


@pytest.mark.parametrize(("body", "headers"), [
    (b"payload=%7Bnot+json", {"content-type": "application/x-www-form-urlencoded"}),
    (b"payload=%5B1%2C2%5D", {"content-type": "application/x-www-form-urlencoded"}),
    (b"\xff\xfe\x00garbage", {"content-type": "application/x-www-form-urlencoded"}),
    (b"{not json", {"content-type": "application/json"}),
    (b"payload=%7B%7D", {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": "soon",
                         "x-slack-signature": "v0=00"}),
    (b"payload=%7B%7D", {"content-type": "application/x-www-form-urlencoded",
                         "x-slack-request-timestamp": "99999999999999999999999", "x-slack-signature": "v0=00"}),
])
def test_an_unsigned_request_with_a_malformed_body_or_timestamp_gets_401_and_no_traceback(
        bot: Bot, server: str, planetscale: PlanetScaleState, body: bytes, headers: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    answer = httpx.post(f"{server}/slack/events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 401
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]
    assert bot.executor.wait_idle(30) and planetscale.calls() == []


@pytest.mark.parametrize(("body", "content_type"), [
    ("token=x&team_id=T1", "application/x-www-form-urlencoded"),  # a form with neither `payload` nor `command`
    ("{not json", "application/json"),
    ('["a", "list"]', "application/json"),
    ("payload=%7Bnot+json", "application/x-www-form-urlencoded"),
    ('payload=%5B1%2C2%5D', "application/x-www-form-urlencoded"),
    ('payload=%7B%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D', "application/x-www-form-urlencoded"),  # no `type`
    ('payload=%7B%22type%22%3A%22block_actions%22%7D', "application/x-www-form-urlencoded"),  # no `user`
])
def test_a_signed_request_that_is_not_a_slack_shape_is_answered_400_with_a_reason(
        bot: Bot, server: str, planetscale: PlanetScaleState, body: str, content_type: str,
        caplog: pytest.LogCaptureFixture) -> None:
    headers = {**dict(signed_headers(SIGNING_SECRET, body)), "content-type": content_type}  # type: ignore[arg-type]
    answer = post(server, body, headers)
    assert answer.status_code == 400 and answer.text, (answer.status_code, answer.text)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert bot.executor.wait_idle(30) and planetscale.calls() == []
    post(server, bot.command_body("help"))  # and the next request is served

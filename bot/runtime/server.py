"""`backup-bot serve`: Bolt behind Starlette on uvicorn, one Request URL for commands and interactivity."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from slack_bolt import App
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.runtime.executor import after_the_answer

# Slack's payloads are a few kilobytes; a large body is not from Slack and is refused before it is read.
MAX_BODY_BYTES = 256 * 1024

HealthCheck = Callable[[], dict[str, Any]]
# A health check that takes longer says the database is not answering (a checker's own timeout is often 5 s).
HEALTH_TIMEOUT_SECONDS = 4.0


class AcksFirst:
    """When requests arrive back to back (a burst), the work after their acks waits until the door has been
    quiet for `quiet` seconds, or its oldest part has waited `longest`: in one interpreter that work would
    otherwise take its time from the next acks, which have Slack's 3 seconds where answers have none. A
    request that comes alone has its work started `grace` after its ack, unless a burst begins meanwhile."""

    def __init__(self, quiet: float = 0.01, longest: float = 0.5, grace: float = 0.001):
        self.quiet, self.longest, self.grace = quiet, longest, grace
        self._last_arrival = float("-inf")
        self._held: list[Callable[[], None]] = []
        self._in_burst = False
        self._oldest = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def arrived(self) -> bool:
        """Note a request's arrival; whether it came in a burst."""
        now = asyncio.get_running_loop().time()
        burst = now - self._last_arrival < self.quiet
        self._last_arrival = now
        self._in_burst = self._in_burst or burst
        return burst

    def start(self, work: Callable[[], None], burst: bool) -> None:
        loop = asyncio.get_running_loop()
        if not self._held:
            self._oldest = loop.time()
        self._held.append(work)
        self._in_burst = self._in_burst or burst
        if self._timer is None:
            self._timer = loop.call_later(self.quiet if self._in_burst else self.grace, self._release_when_quiet)

    def _release_when_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        quiet_for, needed = now - self._last_arrival, self.quiet if self._in_burst else self.grace
        if quiet_for < needed and now - self._oldest < self.longest:
            self._timer = loop.call_later(needed - quiet_for, self._release_when_quiet)
            return
        self._timer, self._in_burst = None, False
        held, self._held = self._held, []
        for work in held:
            work()


class _HeadWithBody:
    """The transport of one connection, writing an answer's head in the same segment as its body.

    uvicorn writes the status line and headers when the answer starts and the body in a write of its own:
    over TCP_NODELAY two segments, and a client that has the head waits for a second one. Here the head is
    held until the body's write, which follows it in the same turn of the event loop (Starlette sends both
    without waiting in between); should nothing follow in that turn (a streamed answer, `100 Continue`), the
    head goes out at the next turn."""

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        elif bytes(data[:9]) == b"HTTP/1.1 " and bytes(data[-4:]) == b"\r\n\r\n":
            self._head = bytes(data)
            asyncio.get_running_loop().call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttp(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), each answer's head and body in one write: `http=` of its Config."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are asyncio's in behaviour, not in class
        super().connection_made(_HeadWithBody(cast(asyncio.Transport, transport)))  # type: ignore[arg-type]

    def eof_received(self) -> None:
        # The client has sent all it will (a checker's `HEAD`, then its side shut): the transport closes itself
        # once this returns, before the next turn of the loop, and would drop a head still held (a HEAD's answer
        # has no body to take it along).
        cast(_HeadWithBody, self.transport).flush()


def create_asgi_app(app: App, health: HealthCheck | None = None,
                    on_shutdown: Callable[[], None] | None = None,
                    on_startup: Callable[[], None] | None = None,
                    health_timeout: float = HEALTH_TIMEOUT_SECONDS, signing_secret: str | None = None) -> Starlette:
    """`on_startup` runs as the server starts, before it listens (it must not block). `on_shutdown` runs while
    the server shuts down (SIGTERM): after the requests in flight have been answered, before the process
    exits, so work already acked can finish."""
    handler = SlackRequestHandler(app)
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    acks_first = AcksFirst()

    async def slack_events(request: Request) -> Response:
        burst = acks_first.arrived()
        length = request.headers.get("content-length")
        if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY_BYTES):
            return PlainTextResponse("Request body too large", status_code=413)
        # Counted while it arrives: a chunked body has no length to check first, and is refused past the limit
        # before the rest of it is read or its signature checked.
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return PlainTextResponse("Request body too large", status_code=413)
        # Signed by Slack, or refused before anything reads it: a malformed body or time stamp from anyone else
        # would otherwise reach the parsers (a 500 and a traceback instead of a 401).
        if verifier is not None and not signed(verifier, request, bytes(body)):
            return PlainTextResponse("Invalid request", status_code=401)
        # The work after the ack starts once the ack is written, and in a burst once the burst's acks are.
        with after_the_answer(lambda work: acks_first.start(work, burst)):
            return await handler.handle(_with_body(request, bytes(body)))

    checking: asyncio.Future[dict[str, Any]] | None = None

    async def healthz(_: Request) -> Response:
        # The check asks the database: in a thread, never on the event loop the acks share, and one at a time,
        # so a database that stops answering holds one thread and no ack.
        nonlocal checking
        if health is None:
            return JSONResponse({"status": "ok"})
        if checking is None or checking.done():
            checking = asyncio.ensure_future(asyncio.to_thread(health))
        try:
            report = await asyncio.wait_for(asyncio.shield(checking), health_timeout)
        except TimeoutError:
            report = {"status": "unavailable", "database": f"not answering within {health_timeout:g} s"}
        except Exception as exc:
            report = {"status": "unavailable", "database": f"the check failed: {type(exc).__name__}"}
        return JSONResponse(report, status_code=200 if report.get("status") == "ok" else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            on_startup()
        yield
        if on_shutdown is not None:
            await asyncio.to_thread(on_shutdown)

    return Starlette(lifespan=lifespan, routes=[
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


def signed(verifier: SignatureVerifier, request: Request, body: bytes) -> bool:
    """Whether Slack signed this body within the last five minutes (slack_sdk's check), on a well-formed time stamp."""
    timestamp = request.headers.get("x-slack-request-timestamp") or ""
    signature = request.headers.get("x-slack-signature") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or not signature.isascii():
        return False
    return verifier.is_valid(body, timestamp, signature)


def _with_body(request: Request, body: bytes) -> Request:
    """The request again, its body already read: Bolt's adapter reads it from `receive` once more."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await request.receive()  # after the body: only a disconnect can follow
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)

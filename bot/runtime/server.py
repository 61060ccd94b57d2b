"""`backup-bot serve`: Bolt behind Starlette on uvicorn, one Request URL for commands and interactivity."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import Clock, SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.runtime.front import MAX_BODY_BYTES
from bot.runtime.logs import REQUEST_ID, request_id
from bot.runtime.metrics import measured, metrics_endpoint
from bot.runtime.slack_shape import shape_problem

log = logging.getLogger(__name__)

HealthCheck = Callable[[], dict[str, Any]]
# slack_sdk refuses a signature made further than this from the host's clock (a replayed request).
SIGNED_WITHIN_SECONDS = 300
# How often a clock off Slack's is logged while Slack's requests are refused for it.
CLOCK_TOLD_EVERY_SECONDS = 60.0
# A health check that takes longer says the database is not answering (a checker's own timeout is often 5 s).
HEALTH_TIMEOUT_SECONDS = 4.0
# The headers both the door and Bolt read.
READ_TWICE = ("Content-Type", "X-Slack-Request-Timestamp", "X-Slack-Signature")
# Threads that run Bolt's listeners. A listener waits for its request's inbox row to be committed before its ack
# (bot/runtime/inbox_writer.py): with a thread for each request of a burst, the whole burst shares one commit,
# where asyncio's default of a few threads (the CPUs and 4) would queue the rest of it behind that commit.
ACK_THREADS = 32


def create_asgi_app(app: App, health: HealthCheck | None = None,
                    on_shutdown: Callable[[], None] | None = None,
                    on_startup: Callable[[], None] | None = None,
                    health_timeout: float = HEALTH_TIMEOUT_SECONDS, signing_secret: str | None = None) -> Starlette:
    """`on_startup` runs as the server starts, before it listens (it must not block). `on_shutdown` runs while
    the server shuts down (SIGTERM): after the requests in flight have been answered, before the process
    exits, so work already acked can finish."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    clock_off = ClockOff()
    listeners = ThreadPoolExecutor(max_workers=ACK_THREADS, thread_name_prefix="ack")

    async def slack_events(request: Request) -> Response:
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
        # The door reads a header's first value, Bolt its last: named twice, a form could reach Bolt's JSON parser,
        # or a time stamp the door never read Bolt's check (a 500 and a traceback). Slack names each once.
        if twice := next((name for name in READ_TWICE if len(request.headers.getlist(name)) > 1), None):
            return PlainTextResponse(f"The request has more than one {twice} header: send one", status_code=400)
        # Signed by Slack, or refused before anything reads it: a malformed body or time stamp from anyone else
        # would otherwise reach the parsers (a 500 and a traceback instead of a 401).
        if verifier is not None and not signed(verifier, request, bytes(body), clock_off):
            return PlainTextResponse("Invalid request", status_code=401)
        # Bolt's listeners are synchronous and an ack may call Slack (views.open must use its trigger_id within
        # 3 s): they run on a thread, so the event loop, which reads every other request, never waits on them.
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("The request body is not UTF-8", status_code=400)
        problem = shape_problem(text, request.headers.get("content-type"))
        if problem is not None:
            return PlainTextResponse(f"{problem}: not a request Slack sends", status_code=400)
        bolt_request = to_bolt_request(request, bytes(body))
        return await measured(bytes(body), _dispatched(app, bolt_request, listeners))

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
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ])


async def _dispatched(app: App, request: BoltRequest, listeners: ThreadPoolExecutor) -> Response:
    request.context[REQUEST_ID] = request_id.get()  # the ID `measured` logs this request under
    # As asyncio.to_thread, on the listeners' threads: the request's context goes with it.
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return to_starlette_response(await loop.run_in_executor(listeners, context.run, app.dispatch, request))


class SignedAt(Clock):
    """A clock stopped at the moment Slack signed a request."""

    def __init__(self, at: int):
        self.at = at

    def now(self) -> float:
        return float(self.at)


class ClockOff:
    """Logs, at most once a CLOCK_TOLD_EVERY_SECONDS, a request Slack signed but refused for its time: when each is
    refused so, this host's clock is off Slack's (a VM resumed before NTP caught up), and nothing else would say."""

    def __init__(self) -> None:
        self._told = float("-inf")
        self._lock = threading.Lock()

    def refused(self, verifier: SignatureVerifier, text: str, timestamp: str, signature: str) -> None:
        off = time.time() - int(timestamp)
        if abs(off) <= SIGNED_WITHIN_SECONDS:
            return
        with self._lock:
            if time.monotonic() - self._told < CLOCK_TOLD_EVERY_SECONDS:
                return
            at_signing = SignatureVerifier(verifier.signing_secret, clock=SignedAt(int(timestamp)))
            if not at_signing.is_valid(text, timestamp, signature):
                return  # not Slack's: says nothing of the clock
            self._told = time.monotonic()
        log.warning("a request signed by Slack was refused: this host's clock is %s %s Slack's, beyond the five "
                    "minutes a signature is taken for; if every request is refused so, set the clock right (NTP)",
                    _how_far(abs(off)), "ahead of" if off > 0 else "behind")


def _how_far(seconds: float) -> str:
    if seconds < 2 * 3600:
        return f"about {round(seconds / 60)} minutes"
    if seconds < 2 * 86400:
        return f"about {round(seconds / 3600)} hours"
    return f"about {round(seconds / 86400)} days"


def signed(verifier: SignatureVerifier, request: Request, body: bytes, clock_off: ClockOff | None = None) -> bool:
    """Whether Slack signed this body within the last five minutes (slack_sdk's check), on a well-formed time stamp."""
    timestamp = request.headers.get("x-slack-request-timestamp") or ""
    signature = request.headers.get("x-slack-signature") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or not signature.isascii():
        return False
    try:
        text = body.decode("utf-8")  # Slack signs UTF-8 text; slack_sdk would raise on anything else
    except UnicodeDecodeError:
        return False
    if verifier.is_valid(text, timestamp, signature):
        return True
    if clock_off is not None:
        clock_off.refused(verifier, text, timestamp, signature)
    return False

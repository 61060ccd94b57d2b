"""`backup-bot serve`: Bolt behind Starlette on uvicorn, one Request URL for commands and interactivity."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.runtime.logs import REQUEST_ID, request_id
from bot.runtime.metrics import measured, metrics_endpoint

# Slack's payloads are a few kilobytes; a large body is not from Slack and is refused before it is read.
MAX_BODY_BYTES = 256 * 1024

HealthCheck = Callable[[], dict[str, Any]]


def create_asgi_app(app: App, health: HealthCheck | None = None,
                    on_shutdown: Callable[[], None] | None = None,
                    on_startup: Callable[[], None] | None = None) -> Starlette:
    """`on_startup` runs as the server starts, before it listens (it must not block). `on_shutdown` runs while
    the server shuts down (SIGTERM): after the requests in flight have been answered, before the process
    exits, so work already acked can finish."""

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
        # Bolt's listeners are synchronous and an ack may call Slack (views.open must use its trigger_id within
        # 3 s): they run on a thread, so the event loop, which reads every other request, never waits on them.
        try:
            bolt_request = to_bolt_request(request, bytes(body))
        except UnicodeDecodeError:
            return PlainTextResponse("The request body is not UTF-8", status_code=400)
        return await measured(bytes(body), _dispatched(app, bolt_request))

    async def healthz(_: Request) -> Response:
        report = health() if health else {"status": "ok"}
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


async def _dispatched(app: App, request: BoltRequest) -> Response:
    request.context[REQUEST_ID] = request_id.get()  # the ID `measured` logs this request under
    return to_starlette_response(await asyncio.to_thread(app.dispatch, request))

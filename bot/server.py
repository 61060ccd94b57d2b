"""`backup-bot serve`: Bolt behind Starlette on uvicorn, one Request URL for commands and interactivity."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.starlette import SlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.executor import after_the_answer

# Slack's payloads are a few kilobytes; a large body is not from Slack and is refused before it is read.
MAX_BODY_BYTES = 256 * 1024

HealthCheck = Callable[[], dict[str, Any]]


def create_asgi_app(app: App, health: HealthCheck | None = None,
                    on_shutdown: Callable[[], None] | None = None,
                    on_startup: Callable[[], None] | None = None) -> Starlette:
    """`on_startup` runs as the server starts, before it listens (it must not block). `on_shutdown` runs while
    the server shuts down (SIGTERM): after the requests in flight have been answered, before the process
    exits, so work already acked can finish."""
    handler = SlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY_BYTES):
            return PlainTextResponse("Request body too large", status_code=413)
        # The work after the ack starts on the loop's next turn, once the ack is written.
        with after_the_answer(asyncio.get_running_loop().call_soon):
            return await handler.handle(request)

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
    ])

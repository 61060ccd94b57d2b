"""uvicorn's protocol as `backup-bot serve` runs it: each answer leaves in one write."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.server import ServerState

from bot.runtime.server import OneWriteHttp


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 3000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def answer(_: Request) -> Response:
    return PlainTextResponse("checking your change")


async def streamed(_: Request) -> Response:
    async def parts() -> Any:
        yield b"one"
        await asyncio.sleep(0.01)
        yield b"two"

    return StreamingResponse(parts())


APP = Starlette(routes=[Route("/answer", answer, methods=["POST"]), Route("/streamed", streamed)])


async def exchange(request: bytes, answers: int = 1) -> RecordingTransport:
    config = uvicorn.Config(APP, http=OneWriteHttp, lifespan="off", log_level="warning")
    protocol = OneWriteHttp(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(200):
        await asyncio.sleep(0.005)
        done = protocol.cycle is None or protocol.cycle.response_complete
        if sum(w.count(b"HTTP/1.1 ") for w in transport.writes) >= answers and done:
            break
    await asyncio.sleep(0.02)  # anything held for the next turn of the loop has gone out by now
    protocol.connection_lost(None)
    return transport


def test_an_answer_leaves_in_one_write_its_head_and_body_together() -> None:
    transport = asyncio.run(exchange(b"POST /answer HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\n\r\n"))
    assert len(transport.writes) == 1, transport.writes
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"checking your change"


def test_answers_on_a_kept_alive_connection_each_leave_in_one_write() -> None:
    one = b"POST /answer HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\n\r\n"
    transport = asyncio.run(exchange(one * 3, answers=3))
    assert len(transport.writes) == 3, transport.writes
    assert all(w.endswith(b"\r\n\r\nchecking your change") for w in transport.writes)


def test_a_streamed_answer_still_arrives_whole_and_in_order() -> None:
    transport = asyncio.run(exchange(b"GET /streamed HTTP/1.1\r\nHost: bot\r\n\r\n"))
    sent = b"".join(transport.writes)
    assert sent.startswith(b"HTTP/1.1 200 OK")
    assert sent.endswith(b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")


def test_an_unparsable_request_gets_its_400_before_the_connection_closes(caplog: Any) -> None:
    transport = asyncio.run(exchange(b"NOT HTTP AT ALL\r\n\r\n"))
    assert transport.writes and transport.writes[0].startswith(b"HTTP/1.1 400"), transport.writes
    assert transport.closed

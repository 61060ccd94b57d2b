"""Slow clients at the door of `serve`: uvicorn bounds a request's head in bytes (h11) and an idle kept-alive
connection in time, but not the time a request may take to arrive, nor how many connections are open. A client
trickling a header a byte at a time would hold its connection for ever, and enough of them the process's file
descriptors, locking Slack out.

`GuardedH11` is uvicorn's h11 protocol (given to `uvicorn.Config(http=…)`, which takes a protocol class) with two
bounds around it, kept by watching the connection from outside (what arrives, and when the answer starts):

- a request must arrive, and its answer start, within REQUEST_SECONDS of its first byte (of the connection's
  opening, for the first): Slack's requests are a few kilobytes and are acked within 3 seconds;
- past the most connections this process may hold, a new one closes the one that has waited longest for the
  rest of its request's head, so a flood of slow heads makes room for Slack rather than refusing it.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

# A request's head and body, and the start of its answer, from its first byte.
REQUEST_SECONDS = 10.0
# The bound on a request's head, in bytes: h11's own, written out (uvicorn's `h11_max_incomplete_event_size`).
HEAD_BYTES = 16 * 1024
# Connections held at once: at most this, and half the file descriptors the process may open.
MOST_CONNECTIONS = 1000
END_OF_HEAD = b"\r\n\r\n"


def most_connections() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(MOST_CONNECTIONS, soft // 2)) if soft != resource.RLIM_INFINITY else MOST_CONNECTIONS


class GuardedH11(asyncio.Protocol):
    """One connection: uvicorn's h11 protocol inside, a deadline on each request, a place among the open ones."""

    open: ClassVar[set[GuardedH11]] = set()  # the event loop's connections (one loop per process)
    most: ClassVar[int] = most_connections()

    def __init__(self, **uvicorn_arguments: Any):
        self.inner = H11Protocol(**uvicorn_arguments)
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.waiting_since = 0.0
        self.head_done = False
        self.tail = b""  # the last bytes received, to find a head's end split across two reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes
        GuardedH11.open.add(self)
        if len(GuardedH11.open) > GuardedH11.most:
            self.make_room()
        self.arm()
        self.inner.connection_made(Answering(self.transport, self))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.deadline is None:
            self.arm()
        if not self.head_done:
            self.head_done = END_OF_HEAD in self.tail + data
            self.tail = data[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[func-returns-value]

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        GuardedH11.open.discard(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def arm(self) -> None:
        self.waiting_since, self.head_done, self.tail = self.loop.time(), False, b""
        self.deadline = self.loop.call_later(REQUEST_SECONDS, self.expire)

    def disarm(self) -> None:
        """The answer has started: the request arrived whole."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
            self.head_done = True

    def expire(self) -> None:
        self.deadline = None
        log.warning("a request did not arrive within %g s; its connection is closed", REQUEST_SECONDS)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def make_room(self) -> None:
        """Close the connection that has waited longest for the rest of a request's head (this one aside)."""
        slow = [c for c in GuardedH11.open if c is not self and c.deadline is not None and not c.head_done]
        if slow:
            oldest = min(slow, key=lambda c: c.waiting_since)
            log.warning("%d connections open: the one slowest to send its request is closed", len(GuardedH11.open))
            oldest.close()


class Answering:
    """The transport as the protocol inside sees it: its first write of an answer ends the request's deadline."""

    def __init__(self, transport: asyncio.Transport, connection: GuardedH11):
        self.transport = transport
        self.connection = connection

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.connection.disarm()
        self.transport.write(data)

    def writelines(self, lines: Any) -> None:
        self.connection.disarm()
        self.transport.writelines(lines)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

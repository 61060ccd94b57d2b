"""Slow clients at the door of `serve`: uvicorn, through its documented settings, bounds a request's head in bytes
(`h11_max_incomplete_event_size`) and an idle kept-alive connection in time (`timeout_keep_alive`), but has no
setting for the time a request may take to arrive, and `limit_concurrency` answers 503 to everyone, Slack too,
once slow clients hold its connections. A client trickling a header a byte at a time would hold its connection
for ever, and enough of them the process's file descriptors, locking Slack out.

So the TCP port is ours: `Front` accepts each connection with asyncio's own server and passes its bytes to an
unmodified uvicorn listening on a Unix socket (its documented `uds` setting) in the same process, with two bounds:

- a request must arrive, and its answer start, within REQUEST_SECONDS of its first byte (of the connection's
  opening, for the first): Slack's requests are a few kilobytes and are acked within 3 seconds;
- past the most connections this process may hold, a new one closes the one that has waited longest for the
  rest of its request's head, so a flood of slow heads makes room for Slack rather than refusing it.

A connection reaches uvicorn only once its first head has arrived (or passed HEAD_BYTES, which uvicorn refuses):
a slow head holds one file descriptor, not three.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# A request's head and body, and the start of its answer, from its first byte.
REQUEST_SECONDS = 10.0
# The bound on a request's head, in bytes: given to uvicorn as `h11_max_incomplete_event_size`.
HEAD_BYTES = 16 * 1024
# Connections held at once: at most this, and a third of the file descriptors the process may open (a connection
# passed to uvicorn holds three: the client's, ours to uvicorn, and uvicorn's).
MOST_CONNECTIONS = 1000
END_OF_HEAD = b"\r\n\r\n"
READ_BYTES = 64 * 1024


def most_connections() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(MOST_CONNECTIONS, soft // 3)) if soft != resource.RLIM_INFINITY else MOST_CONNECTIONS


@dataclass(eq=False)
class Connection:
    """One client's connection: its place among the open ones and the deadline of the request it is sending."""

    client: asyncio.StreamWriter
    waiting_since: float
    head_done: bool = False
    deadline: asyncio.TimerHandle | None = None
    upstream: asyncio.StreamWriter | None = field(default=None)

    def arm(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.waiting_since, self.head_done = loop.time(), False
        self.deadline = loop.call_later(seconds, self.expire, seconds)

    def disarm(self) -> None:
        """The answer has started: the request arrived whole."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.head_done = True

    def expire(self, seconds: float) -> None:
        self.deadline = None
        log.warning("a request did not arrive within %g s; its connection is closed", seconds)
        self.close()

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None and not writer.is_closing():
                writer.close()


class Front:
    """The TCP side of `serve`: each connection's bytes go to uvicorn's Unix socket at `upstream`, within bounds."""

    def __init__(self, upstream: str, request_seconds: float = REQUEST_SECONDS, most: int | None = None):
        self.upstream = upstream
        self.request_seconds = request_seconds
        self.most = most or most_connections()
        self.open: set[Connection] = set()
        self.server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self.serve, host, port, limit=READ_BYTES)

    async def close(self) -> None:
        """Takes no new connection; those open end with uvicorn's side of them."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        connection = Connection(writer, loop.time())
        self.open.add(connection)
        if len(self.open) > self.most:
            self.make_room(connection)
        connection.arm(loop, self.request_seconds)
        try:
            head = await self.first_head(reader)
            if head is None:
                return
            connection.head_done = True
            upstream_reader, connection.upstream = await asyncio.open_unix_connection(self.upstream)
            connection.upstream.write(head)
            await asyncio.gather(self.requests(reader, connection, loop), self.answers(upstream_reader, connection))
        except (OSError, asyncio.IncompleteReadError):
            pass  # either side went away: the other is closed below
        finally:
            connection.disarm()
            connection.close()
            self.open.discard(connection)

    @staticmethod
    async def first_head(reader: asyncio.StreamReader) -> bytes | None:
        """The bytes up to the end of the first request's head (or past HEAD_BYTES); None if the client left."""
        head = bytearray()
        while len(head) <= HEAD_BYTES:
            data = await reader.read(READ_BYTES)
            if not data:
                return None
            seen = len(head)
            head += data
            if END_OF_HEAD in head[max(0, seen - 3):]:
                break
        return bytes(head)

    async def requests(self, reader: asyncio.StreamReader, connection: Connection,
                       loop: asyncio.AbstractEventLoop) -> None:
        """The client's bytes to uvicorn; the first byte after an answer has started begins the next request."""
        upstream = connection.upstream
        assert upstream is not None
        try:
            while data := await reader.read(READ_BYTES):
                if connection.deadline is None:
                    connection.arm(loop, self.request_seconds)
                upstream.write(data)
                await upstream.drain()
            # The client's end of its sending (a checker's `nc -N`) is not passed on: uvicorn would close without
            # answering. Its answer still comes, and the connection ends with uvicorn's idle timeout.
        except OSError:
            connection.close()

    @staticmethod
    async def answers(reader: asyncio.StreamReader, connection: Connection) -> None:
        """uvicorn's bytes to the client; the first of an answer ends its request's deadline."""
        try:
            while data := await reader.read(READ_BYTES):
                connection.disarm()
                connection.client.write(data)
                await connection.client.drain()
        finally:
            connection.close()

    def make_room(self, arriving: Connection) -> None:
        """Close the connection that has waited longest for the rest of a request's head (the one arriving aside)."""
        slow = [c for c in self.open if c is not arriving and c.deadline is not None and not c.head_done]
        if slow:
            oldest = min(slow, key=lambda c: c.waiting_since)
            log.warning("%d connections open: the one slowest to send its request is closed", len(self.open))
            with contextlib.suppress(OSError):
                oldest.close()

"""Slow clients at the door of `serve`: uvicorn, through its documented settings, bounds an idle kept-alive
connection in time (`timeout_keep_alive`) and, on h11 only, a request's head in bytes, but has no
setting for the time a request may take to arrive, head or body, and `limit_concurrency` answers 503 to everyone,
Slack too, once slow clients hold its connections. A client trickling a header or a body a byte at a time would
hold its connection for ever, and enough of them the process's file descriptors, locking Slack out.

So the TCP port is ours: `Front` accepts each connection with asyncio's own server and passes its bytes to an
unmodified uvicorn listening on a Unix socket (its documented `uds` setting) in the same process, with bounds:

- a request reaches uvicorn only once it is whole, head and body: a slow request holds one file descriptor, not
  three, and never a worker of uvicorn's;
- a request must arrive within REQUEST_SECONDS of its first byte (of the connection's opening, for the first),
  or is answered 408: Slack's requests are a few kilobytes; and each part of an answer must be taken by the client
  within as long, or the connection is closed (a client that stops reading would hold it for ever);
- a head past HEAD_BYTES is answered 431, a body past MAX_BODY_BYTES 413 before it is read, and a body without
  a Content-Length (chunked, or none on a POST) 411: Slack always sends one, and a length is what lets the front
  wait for the whole body (a client that waits for `100 Continue` before sending it is told to go on by the
  front);
- past the most connections this process may hold, a new one closes one left idle after its answer (the
  longest idle; HTTP lets a server close a kept-alive connection), or else the one that has waited longest for
  the rest of its request, so a flood of slow or idle connections makes room for Slack rather than refusing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

log = logging.getLogger(__name__)

# A request's head and body, and the start of its answer, from its first byte.
REQUEST_SECONDS = 10.0
# The bound on a request's head, in bytes (431 past it): uvicorn's C parser has none of its own.
HEAD_BYTES = 16 * 1024
# Connections held at once: at most this, and a third of the file descriptors the process may open beside those it
# holds for the rest (a connection passed to uvicorn holds three: the client's, ours to uvicorn, and uvicorn's).
MOST_CONNECTIONS = 1000
# The descriptors left to the rest of the process: the database's, Slack's and PlanetScale's pools (up to 32
# each), the log, the listening sockets, and the connections asyncio accepts at once before the front sees any
# (up to its backlog, 100). Without them uvicorn could not accept the connections the front passes it.
RESERVED_FILES = 256
# Slack's payloads are a few kilobytes; a larger body is not from Slack and is refused before it is read.
MAX_BODY_BYTES = 256 * 1024
END_OF_HEAD = b"\r\n\r\n"
REASONS = {400: "Bad Request", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
           431: "Request Header Fields Too Large"}
READ_BYTES = 64 * 1024
# A flood of bad clients closes connections by the thousand: each kind of closing is logged at once, then once in
# this many seconds with how many came since, so the log says what happened without burying everything else.
LOG_EVERY_SECONDS = 60.0


class Tally:
    """The front's warnings, each kind said at once the first time and then once a period with its count."""

    def __init__(self, every: float = LOG_EVERY_SECONDS):
        self.every = every
        self.since: dict[str, int] = {}  # the kinds said in this period, and how many came after

    def warn(self, message: str) -> None:
        if message in self.since:
            self.since[message] += 1
            return
        log.warning(message)
        self.since[message] = 0
        asyncio.get_running_loop().call_later(self.every, self.flush, message)

    def flush(self, message: str) -> None:
        more = self.since.pop(message, 0)
        if more:
            log.warning("%s (%d more in the last %g s)", message, more, self.every)
            self.since[message] = 0
            asyncio.get_running_loop().call_later(self.every, self.flush, message)


# What uvicorn says of a request it cannot read (an HTTP version or method it does not know, an upgrade it does not
# serve), once a request: anyone may send thousands a minute.
UVICORN_LOGGER = "uvicorn.error"
UVICORN_BAD_REQUESTS = frozenset({"Invalid HTTP request received.", "Unsupported upgrade request."})


class UnreadRequests(logging.Filter):
    """uvicorn's line for each request it cannot read, said as the front's own: once, then with how many."""

    def __init__(self, tally: Tally):
        super().__init__()
        self.tally = tally

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message not in UVICORN_BAD_REQUESTS:
            return True
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not on the event loop, where the tally's period is kept
            return True
        self.tally.warn(f"uvicorn answered a request it cannot read: {message}")
        return False


def most_connections() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(MOST_CONNECTIONS, (soft - RESERVED_FILES) // 3)) if soft != resource.RLIM_INFINITY \
        else MOST_CONNECTIONS



# A Unix socket's path holds at most 107 bytes on Linux, 103 on macOS (and the BSDs).
SOCKET_PATH_MOST = 107 if sys.platform.startswith("linux") else 103
SOCKET_NAME = "uvicorn.sock"


def socket_folder(make: Callable[[], str] | None = None) -> str:
    """A new folder under TMPDIR for the socket between the front and uvicorn; a SettingsError naming TMPDIR when
    none can be made (a read-only file system) or its path is too long for a socket's."""
    import atexit
    import shutil
    import tempfile

    from bot.runtime.settings import SettingsError

    try:
        folder = (make or partial(tempfile.mkdtemp, prefix="backup-bot-"))()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"TMPDIR: serve could not make a folder for its socket ({reason}): set TMPDIR to a folder "
                            "it may write in (on a read-only file system, mount one, e.g. at /tmp).") from None
    length = len(os.fsencode(os.path.join(folder, SOCKET_NAME)))
    if length > SOCKET_PATH_MOST:
        shutil.rmtree(folder, ignore_errors=True)
        raise SettingsError(f"TMPDIR is too long a path for serve's socket (its path would take {length} bytes, where "
                            f"a socket's path holds at most {SOCKET_PATH_MOST}): set TMPDIR to a shorter folder, "
                            "e.g. /tmp.")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # whatever stops the start before serve removes it
    return folder

@dataclass(eq=False)
class Connection:
    """One client's connection: its place among the open ones and the deadline of the request it is sending."""

    client: asyncio.StreamWriter
    waiting_since: float
    tally: Tally
    deadline: asyncio.TimerHandle | None = None
    upstream: asyncio.StreamWriter | None = field(default=None)
    # What has arrived of the request being read (and of any sent after it).
    buffer: bytearray = field(default_factory=bytearray)
    # Since when the connection has waited for a next request with its answer given; None while one is in flight.
    idle_since: float | None = None

    def arm(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.waiting_since = loop.time()
        self.deadline = loop.call_later(seconds, self.expire, seconds)

    def disarm(self) -> None:
        """The request arrived whole."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def expire(self, seconds: float) -> None:
        self.deadline = None
        self.tally.warn(f"a request did not arrive within {seconds:g} s; its connection is closed")
        if self.buffer:  # part of a request came: say why it is cut off (an idle connection just ends)
            self.refuse(408, f"The request did not arrive within {seconds:g} seconds")
        self.close()

    def refuse(self, status: int, reason: str) -> None:
        """Answer `status` and close: the rest of the request is never read."""
        self.disarm()
        text = (reason + "\n").encode()
        if not self.client.is_closing():
            self.client.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                              b"Connection: close\r\n\r\n%s" % (status, REASONS[status].encode(), len(text), text))
        self.close()

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None and not writer.is_closing():
                writer.close()


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


BARE_LF = re.compile(rb"(?<!\r)\n")


def expects_continue(head: bytes) -> bool:
    """Whether the client waits for `100 Continue` before it sends the body (`Expect: 100-continue`); an
    HTTP/1.0 client's expectation is ignored, as RFC 9110 says."""
    lines = head.split(b"\r\n")
    fields = (line.partition(b":") for line in lines[1:])
    return lines[0].endswith(b" HTTP/1.1") and any(
        name.strip().lower() == b"expect" and value.strip().lower() == b"100-continue" for name, _, value in fields)


def body_length(head: bytes) -> int:
    """The length of the body that follows `head`, from its Content-Length; Refused if there is none to wait for."""
    # The head is read here as uvicorn's parser reads it, or refused: a line it would split or join otherwise
    # could give it a length the front never saw, and a connection held with no deadline.
    if BARE_LF.search(head):
        raise Refused(400, "Each line of the head ends with CRLF")
    lines = head.split(b"\r\n")
    method = lines[0].split(b" ", 1)[0].upper()
    lengths: set[bytes] = set()
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise Refused(400, "A header line folded onto the one above is not taken")
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            raise Refused(411, "A Content-Length is required (Transfer-Encoding is not taken)")
        if name == b"content-length":
            lengths.add(value.strip())
    if not lengths:
        if method in (b"POST", b"PUT", b"PATCH"):
            raise Refused(411, "A Content-Length is required")
        return 0
    if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
        raise Refused(400, "The Content-Length is not one number")
    digits = lengths.pop().lstrip(b"0") or b"0"
    if len(digits) > len(str(MAX_BODY_BYTES)):
        raise Refused(413, f"The request body is over {MAX_BODY_BYTES} bytes")
    length = int(digits)
    if length > MAX_BODY_BYTES:
        raise Refused(413, f"The request body is over {MAX_BODY_BYTES} bytes")
    return length


class Front:
    """The TCP side of `serve`: each connection's bytes go to uvicorn's Unix socket at `upstream`, within bounds."""

    def __init__(self, upstream: str, request_seconds: float = REQUEST_SECONDS, most: int | None = None):
        self.upstream = upstream
        self.request_seconds = request_seconds
        self.most = most or most_connections()
        self.open: set[Connection] = set()
        self.server: asyncio.AbstractServer | None = None
        self.tally = Tally()
        self.unread = UnreadRequests(self.tally)

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self.serve, host, port, limit=READ_BYTES)
        logging.getLogger(UVICORN_LOGGER).addFilter(self.unread)

    async def close(self) -> None:
        """Takes no new connection; those open end with uvicorn's side of them."""
        logging.getLogger(UVICORN_LOGGER).removeFilter(self.unread)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        connection = Connection(writer, loop.time(), self.tally)
        self.open.add(connection)
        if len(self.open) > self.most:
            self.make_room(connection)
        connection.arm(loop, self.request_seconds)
        try:
            request = await self.whole_request(reader, connection, loop)
            if request is None:
                return
            upstream_reader, connection.upstream = await asyncio.open_unix_connection(self.upstream)
            connection.upstream.write(request)
            connection.idle_since = None
            await asyncio.gather(self.requests(reader, connection, loop), self.answers(upstream_reader, connection))
        except (OSError, asyncio.IncompleteReadError):
            pass  # either side went away: the other is closed below
        finally:
            connection.disarm()
            connection.close()
            self.open.discard(connection)

    async def whole_request(self, reader: asyncio.StreamReader, connection: Connection,
                            loop: asyncio.AbstractEventLoop) -> bytes | None:
        """The next request, head and body, once all of it has arrived; None if the client left or was refused."""
        buffer = connection.buffer
        try:
            while (end := buffer.find(END_OF_HEAD)) < 0:
                if len(buffer) > HEAD_BYTES:
                    raise Refused(431, f"The request head is over {HEAD_BYTES} bytes")
                if not await self.read_more(reader, connection, loop):
                    return None
            if end > HEAD_BYTES:
                raise Refused(431, f"The request head is over {HEAD_BYTES} bytes")
            whole = end + len(END_OF_HEAD) + body_length(bytes(buffer[:end]))
        except Refused as refused:
            connection.refuse(refused.status, refused.reason)
            return None
        if len(buffer) < whole and connection.upstream is None and expects_continue(bytes(buffer[:end])):
            # The front waits for the body, uvicorn never sees the head before it: say `100 Continue` here. Only
            # before a connection's first answer, which it could otherwise land in the middle of.
            connection.client.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while len(buffer) < whole:
            if not await self.read_more(reader, connection, loop):
                return None
        request = bytes(buffer[:whole])
        del buffer[:whole]
        connection.disarm()
        if buffer:  # the next request has begun: its time runs from now
            connection.arm(loop, self.request_seconds)
        return request

    async def read_more(self, reader: asyncio.StreamReader, connection: Connection,
                        loop: asyncio.AbstractEventLoop) -> bool:
        data = await reader.read(READ_BYTES)
        if not data:
            return False
        if connection.deadline is None:  # the first byte of a request on a kept-alive connection
            connection.arm(loop, self.request_seconds)
        connection.buffer += data
        return True

    async def requests(self, reader: asyncio.StreamReader, connection: Connection,
                       loop: asyncio.AbstractEventLoop) -> None:
        """The client's requests to uvicorn, each once it is whole."""
        upstream = connection.upstream
        assert upstream is not None
        try:
            while (request := await self.whole_request(reader, connection, loop)) is not None:
                upstream.write(request)
                connection.idle_since = None
                await upstream.drain()
            # The client's end of its sending (a checker's `nc -N`) is not passed on: uvicorn would close without
            # answering. Its answer still comes, and the connection ends with uvicorn's idle timeout.
        except OSError:
            connection.close()

    async def answers(self, reader: asyncio.StreamReader, connection: Connection) -> None:
        """uvicorn's bytes to the client, each taken within `request_seconds`: a client that stops reading its
        answers holds its connection no longer than one that stops sending its request."""
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(READ_BYTES):
                connection.client.write(data)
                if not connection.client.transport.get_write_buffer_size():
                    # The socket took all of it: nothing to wait for, and no task or timer made to wait for it.
                    connection.idle_since = loop.time()
                    continue
                try:
                    await asyncio.wait_for(connection.client.drain(), self.request_seconds)
                except TimeoutError:
                    self.tally.warn(f"a client did not take its answer within {self.request_seconds:g} s; its "
                                    "connection is closed")
                    return
                connection.idle_since = loop.time()
        finally:
            connection.close()

    def make_room(self, arriving: Connection) -> None:
        """Close the connection idle longest after its answer, or else the one that has waited longest for the
        rest of a request (the one arriving aside). A connection whose request is in flight is never closed."""
        idle = [c for c in self.open if c is not arriving and c.deadline is None and c.idle_since is not None]
        slow = [c for c in self.open if c is not arriving and c.deadline is not None]
        if idle:
            closed = min(idle, key=lambda c: c.idle_since or 0.0)
            self.tally.warn(f"{self.most} connections open: the one idle longest after its answer is closed")
        elif slow:
            closed = min(slow, key=lambda c: c.waiting_since)
            self.tally.warn(f"{self.most} connections open: the one slowest to send its request is closed")
        else:
            return
        # Out of the count at once: the connections accepted in the same burst each close another one.
        self.open.discard(closed)
        with contextlib.suppress(OSError):
            closed.close()

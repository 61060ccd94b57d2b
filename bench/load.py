"""A lean load client: prepared HTTP/1.1 requests over kept-alive sockets, so that it measures the server.

Requests are built and signed before the clock starts. One thread drives every connection with `selectors`:
each connection sends its next request as soon as the answer to its previous one has arrived, without
waiting for anything the server does after answering. Answers are read as far as the status line and
`Content-Length`, nothing more.
"""

from __future__ import annotations

import multiprocessing
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

HEADER_END = b"\r\n\r\n"
ACCEPT_WAIT = 0.02  # seconds for a server to accept new connections


def http_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"host: 127.0.0.1:{port}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Answer:
    started: float
    elapsed_ms: float
    status: int
    body: bytes


@dataclass
class _Connection:
    sock: socket.socket
    queue: list[tuple[int, bytes]]  # (index, prepared request) still to send on this connection
    index: int = -1
    started: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _complete(buffer: bytearray) -> tuple[int, bytes] | None:
    """(status, body) once the whole answer is in the buffer; None while more is to come."""
    end = buffer.find(HEADER_END)
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1")
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if len(buffer) < end + 4 + length:
        return None
    status = int(head.split(" ", 2)[1])
    body = bytes(buffer[end + 4:end + 4 + length])
    del buffer[:end + 4 + length]
    return status, body


def drive(port: int, requests: Sequence[bytes], concurrency: int, timeout: float = 120.0) -> list[Answer]:
    """Send every request over `concurrency` kept-alive connections, each sending its next request as soon
    as the previous answer arrived; answers in the order of `requests`."""
    answers: list[Answer | None] = [None] * len(requests)
    selector = selectors.DefaultSelector()
    shares = [[(i, requests[i]) for i in range(k, len(requests), concurrency)] for k in range(concurrency)]
    connections = [_Connection(connect(port), share) for share in shares if share]
    # Opened before the clock starts, as kept-alive connections are: otherwise the first request on each of them
    # waits for the server to accept all of them, and at 8 at once those 8 of every 200 made the p99 alone.
    time.sleep(ACCEPT_WAIT)

    def send_next(conn: _Connection) -> bool:
        if not conn.queue:
            return False
        conn.index, raw = conn.queue.pop(0)
        conn.started = time.perf_counter()
        conn.sock.sendall(raw)
        return True

    for conn in connections:
        send_next(conn)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    busy = len(connections)
    deadline = time.perf_counter() + timeout
    try:
        while busy:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{busy} connection(s) still waiting after {timeout:.0f} s")
            for key, _ in selector.select(timeout=1.0):
                conn = key.data
                chunk = conn.sock.recv(65536)
                now = time.perf_counter()
                if not chunk:
                    raise ConnectionError("the server closed a kept-alive connection")
                conn.buffer += chunk
                done = _complete(conn.buffer)
                if done is None:
                    continue
                status, body = done
                answers[conn.index] = Answer(conn.started, (now - conn.started) * 1000, status, body)
                if not send_next(conn):
                    busy -= 1
                    selector.unregister(conn.sock)
    finally:
        selector.close()
        for conn in connections:
            conn.sock.close()
    return [a for a in answers if a is not None]


def drive_at_rate(port: int, requests: Sequence[bytes], rate: float, connections: int = 64,
                  timeout: float = 120.0) -> list[Answer]:
    """Open loop: request i is due at i / `rate` seconds from the start, whatever the answers before it, on the
    first of `connections` kept-alive connections that is free. Each answer's time runs from when its request was
    due, so a request that waited for a free connection counts its wait (no coordinated omission)."""
    answers: list[Answer | None] = [None] * len(requests)
    selector = selectors.DefaultSelector()
    opened = [_Connection(connect(port), []) for _ in range(connections)]
    free = list(opened)
    for conn in free:
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    time.sleep(ACCEPT_WAIT)
    start = time.perf_counter() + 0.05
    deadline = start + len(requests) / rate + timeout
    sent = 0
    busy = 0
    try:
        while sent < len(requests) or busy:
            now = time.perf_counter()
            if now > deadline:
                raise TimeoutError(f"{busy} request(s) still waiting after {timeout:.0f} s")
            while sent < len(requests) and free and start + sent / rate <= now:
                conn = free.pop()
                conn.index, conn.started = sent, start + sent / rate
                conn.sock.sendall(requests[sent])
                sent += 1
                busy += 1
            due = start + sent / rate if sent < len(requests) and free else now + 1.0
            for key, _ in selector.select(timeout=max(0.0, due - time.perf_counter())):
                conn = key.data
                try:
                    chunk = conn.sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                done_at = time.perf_counter()
                if not chunk:  # the server closed it, idle past its keep-alive: a new one, the request sent again
                    selector.unregister(conn.sock)
                    conn.sock.close()
                    conn.sock, conn.buffer = connect(port), bytearray()
                    selector.register(conn.sock, selectors.EVENT_READ, conn)
                    if conn in free:
                        continue
                    conn.sock.sendall(requests[conn.index])
                    continue
                conn.buffer += chunk
                done = _complete(conn.buffer)
                if done is None:
                    continue
                status, body = done
                answers[conn.index] = Answer(conn.started, (done_at - conn.started) * 1000, status, body)
                busy -= 1
                free.append(conn)
    finally:
        selector.close()
        for conn in opened:
            conn.sock.close()
    return [a for a in answers if a is not None]


class FloorServer:
    """The least a server can do: answer every request with a fixed 200, parsing only its length. The load
    client against it is the client's own cost plus loopback."""

    ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="floor-server", daemon=True)

    def __enter__(self) -> FloorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        buffers: dict[socket.socket, bytearray] = {}
        while True:
            try:
                ready = selector.select(timeout=0.5)
            except (OSError, ValueError):
                return
            for key, _ in ready:
                if key.data is None:
                    try:
                        sock, _ = self._listener.accept()
                    except OSError:
                        return
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    buffers[sock] = bytearray()
                    selector.register(sock, selectors.EVENT_READ, sock)
                    continue
                sock = key.data
                chunk = sock.recv(65536)
                if not chunk:
                    selector.unregister(sock)
                    sock.close()
                    continue
                buffer = buffers[sock]
                buffer += chunk
                while (complete := _complete_request(buffer)) is not None:
                    del buffer[:complete]
                    sock.sendall(self.ANSWER)


def _complete_request(buffer: bytearray) -> int | None:
    end = buffer.find(HEADER_END)
    if end < 0:
        return None
    length = 0
    for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = end + 4 + length
    return total if len(buffer) >= total else None


def _client_process(pipe: Any) -> None:
    while True:
        job = pipe.recv()
        if job is None:
            return
        port, requests, concurrency, rate = job
        try:
            answers = drive(port, requests, concurrency) if rate is None else drive_at_rate(port, requests, rate)
            pipe.send([(a.started, a.elapsed_ms, a.status, a.body[:2000]) for a in answers])
        except Exception as exc:  # sent back to the bench, which stops on it
            pipe.send(exc)


class LoadClient:
    """`drive` in a process of its own, so that the emulators serving the bot in the bench's process never
    hold the load client's interpreter lock while it waits for an ack."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_client_process, args=(child,), name="load-client", daemon=True)
        self._process.start()

    def drive(self, port: int, requests: Sequence[bytes], concurrency: int, rate: float | None = None) -> list[Answer]:
        """`drive` (closed loop), or with `rate` `drive_at_rate` (open loop)."""
        self._pipe.send((port, list(requests), concurrency, rate))
        result = self._pipe.recv()
        if isinstance(result, Exception):
            raise result
        return [Answer(*row) for row in result]

    def close(self) -> None:
        self._pipe.send(None)
        self._process.join(timeout=10)

    def __enter__(self) -> LoadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

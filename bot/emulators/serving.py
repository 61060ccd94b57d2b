"""Run an ASGI app with uvicorn on a loopback port in a background thread (emulators, tests, console).

For a network like the real one, `latency` puts a relay in front of the server that delays every byte by half
the round trip each way, and a new connection's first bytes by one more round trip (the TCP handshake), so a
new connection costs what it costs over the internet; `tls` serves HTTPS with a throwaway certificate, whose
handshake then costs its round trip too. `connections` counts the TCP connections clients opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn


class ThrowawayTLS:
    """A certificate authority made for this run, and a certificate it issued for 127.0.0.1 and localhost.
    Clients trust `ca_file` (for another process: SSL_CERT_FILE=<ca_file>)."""

    def __init__(self) -> None:
        import trustme  # only the HTTPS emulators need it

        self._dir = tempfile.TemporaryDirectory(prefix="emulator-tls-")
        folder = Path(self._dir.name)
        authority = trustme.CA()
        issued = authority.issue_cert("127.0.0.1", "localhost")
        self.ca_file, self.cert_file, self.key_file = (str(folder / n) for n in ("ca.pem", "cert.pem", "key.pem"))
        authority.cert_pem.write_to_path(self.ca_file)
        issued.private_key_pem.write_to_path(self.key_file)
        with open(self.cert_file, "wb") as chain:
            for blob in issued.cert_chain_pems:
                chain.write(blob.bytes())

    def close(self) -> None:
        self._dir.cleanup()


class _ConnectionCounter:
    """Every TCP connection is one client address (host, port) for as long as it lives."""

    def __init__(self, app: Any):
        self.app = app
        self.clients: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client")
        if client and scope["type"] in ("http", "websocket"):
            with self._lock:
                self.clients.add((str(client[0]), int(client[1])))
        await self.app(scope, receive, send)


class _LatencyRelay:
    """Forwards each connection to `upstream`, delivering each chunk half a round trip after it was read,
    and the first bytes of a new connection one round trip later still: the TCP handshake."""

    def __init__(self, host: str, upstream: int, round_trip: float):
        self.host, self.upstream, self.round_trip = host, upstream, round_trip
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-relay", daemon=True)
        # The loop holds its tasks only weakly: a task waiting on a connection nothing else refers to (one reset
        # by its client) would be collected while pending, "Task was destroyed but it is pending!".
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._relay, sock=self._listener)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        opened = self._loop.time()
        current = asyncio.current_task()
        if current is not None:
            self._keep(current)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.upstream)
        except OSError:
            client_writer.close()
            return
        for writer in (client_writer, upstream_writer):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handshake_done = opened + self.round_trip
        try:
            await asyncio.gather(self._forward(client_reader, upstream_writer, handshake_done),
                                 self._forward(upstream_reader, client_writer, opened), return_exceptions=True)
        except asyncio.CancelledError:
            pass  # the relay is stopping: end quietly
        finally:
            for writer in (client_writer, upstream_writer):
                writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, not_before: float) -> None:
        half = self.round_trip / 2
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        self._keep(delivering)
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((max(self._loop.time(), not_before) + half, data))
                if not data:
                    break
            await delivering
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            delivering.cancel()  # done already, or cancelled with the relay: nothing left pending

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for _ in range(10):  # a task cancelled may have started another (a connection accepted meanwhile)
                relaying = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not relaying:
                    break
                for task in relaying:
                    task.cancel()
                await asyncio.gather(*relaying, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


# How long uvicorn keeps an idle connection (its default, written out): the bot's clients close theirs sooner.
IDLE_SECONDS = 5


class BackgroundServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 tls: ThrowawayTLS | None = None, http: str | type[asyncio.Protocol] = "httptools"):
        """`latency`: the round trip, in seconds, that every connection to this server goes through. `http`:
        uvicorn's HTTP protocol, by name or class."""
        self._counter = _ConnectionCounter(app)
        config = uvicorn.Config(self._counter, host=host, port=0 if latency else port, log_level="warning",
                                access_log=False, lifespan="off", loop="asyncio", http=http,
                                timeout_keep_alive=IDLE_SECONDS,
                                ssl_certfile=tls.cert_file if tls else None, ssl_keyfile=tls.key_file if tls else None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="emulator", daemon=True)
        self.host = host
        self.latency = latency
        self.scheme = "https" if tls else "http"
        self._relay: _LatencyRelay | None = None

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.host} did not start")
            time.sleep(0.005)
        if self.latency:
            self._relay = _LatencyRelay(self.host, self._server_port, self.latency)
            self._relay.start()
        return self

    @property
    def _server_port(self) -> int:
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        return self._relay.port if self._relay else self._server_port

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """TCP connections clients have opened to this server so far."""
        return len(self._counter.clients)

    def stop(self) -> None:
        if self._relay:
            self._relay.stop()
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Why a listening socket could not be made, for the errors a mistyped or foreign host gives.
LISTEN_REASONS = {errno.EADDRNOTAVAIL: "not an address of this machine", errno.EADDRINUSE: "the port is in use",
                  errno.EACCES: "not allowed: a port under 1024 needs privileges"}


def cannot_listen(host: str, port: int) -> str | None:
    """Why nothing can listen on `host`:`port` (each address the host resolves to, bound as uvicorn binds it), in
    words; None when it can."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):  # a name no resolver knows, or one IDNA cannot encode
        return "no such host"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return LISTEN_REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return None

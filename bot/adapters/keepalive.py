"""Kept-alive HTTP/1.1 connections on http.client, shared by every thread, behind httpx for PlanetScale.

Over the internet a new connection costs a TCP and a TLS handshake, one to three round trips, before the
request; kept alive, it costs none. http.client spends less of the interpreter's time on a request than
httpx's own transport, time the acks beside the work would otherwise wait for (figures in docs/benchmarks.md).
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from http.client import HTTPConnection, HTTPException, HTTPMessage, HTTPSConnection, RemoteDisconnected
from urllib.parse import urlsplit

import httpx


class ConnectFailed(OSError):
    """A new connection could not be opened: nothing was sent."""

    def __init__(self, reason: OSError):
        super().__init__(str(reason))
        self.reason = reason


Key = tuple[str, str, int]


class KeepAlivePool:
    """A connection is taken for one request and given back once its answer has been read; an idle one
    that the server has closed, or that waited longer than `idle_expiry`, is dropped instead of reused."""

    def __init__(self, timeout: float = 10.0, idle_expiry: float = 20.0, max_idle: int = 32,
                 context: ssl.SSLContext | None = None):
        self.timeout, self.idle_expiry, self.max_idle = timeout, idle_expiry, max_idle
        self._context = context
        self._idle: dict[Key, list[tuple[float, HTTPConnection]]] = {}
        self._lock = threading.Lock()
        self.opened = 0

    def request(self, method: str, url: str, body: bytes | None, headers: Iterable[tuple[str, str]], *,
                connect_timeout: float | None = None,
                read_timeout: float | None = None) -> tuple[int, str, HTTPMessage, bytes]:
        """(status, reason, headers, body). ConnectFailed when no connection could be opened; otherwise
        OSError (TimeoutError, RemoteDisconnected…) and http.client's errors as they come."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectFailed(OSError(f"not an http(s) URL: {url[:40]}"))
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        connection = self._take(key)
        if connection.sock is None:
            self._connect(connection, connect_timeout or self.timeout)
        try:
            connection.sock.settimeout(read_timeout or self.timeout)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(key, connection)
        return response.status, response.reason, response.msg, data

    def _take(self, key: Key) -> HTTPConnection:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                since, connection = idle.pop()
                if now - since < self.idle_expiry and not _closed_by_peer(connection):
                    return connection
                connection.close()
        scheme, host, port = key
        if scheme == "https":
            if self._context is None:
                self._context = ssl.create_default_context()  # honours SSL_CERT_FILE, as urllib does
            return HTTPSConnection(host, port, context=self._context)
        return HTTPConnection(host, port)

    def _connect(self, connection: HTTPConnection, timeout: float) -> None:
        connection.timeout = timeout
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise ConnectFailed(exc) from None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.opened += 1

    def _give_back(self, key: Key, connection: HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle:
                idle.append((time.monotonic(), connection))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for _, connection in connections:
                connection.close()


def _closed_by_peer(connection: HTTPConnection) -> bool:
    """An idle connection the server has closed (or written to) is readable: it cannot carry a request."""
    if connection.sock is None:
        return True
    try:
        readable, _, _ = select.select([connection.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class KeepAliveTransport(httpx.BaseTransport):
    """httpx's client in front of a KeepAlivePool, its errors raised as httpx's own."""

    def __init__(self, pool: KeepAlivePool | None = None):
        self.pool = pool or KeepAlivePool()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout") or {}
        try:
            status, _, headers, data = self.pool.request(
                request.method, str(request.url), request.read() or None, request.headers.multi_items(),
                connect_timeout=timeout.get("connect"), read_timeout=timeout.get("read"))
        except ConnectFailed as exc:
            if isinstance(exc.reason, TimeoutError):
                raise httpx.ConnectTimeout(str(exc), request=request) from None
            raise httpx.ConnectError(str(exc), request=request) from None
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from None
        except (RemoteDisconnected, HTTPException) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from None
        return httpx.Response(status, headers=list(headers.items()), content=data, request=request)

    def close(self) -> None:
        self.pool.close()

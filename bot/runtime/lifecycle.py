"""Stopping with a bound (SIGTERM under serve and socket), and a health check for Socket Mode."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.runtime.executor import TrackedExecutor
from bot.runtime.sweeper import Sweeper
from bot.runtime.watch import Watcher
from handlers.dependencies import Dependencies

log = logging.getLogger("bot")


def drain(executor: TrackedExecutor, sweeper: Sweeper | None, watcher: Watcher | None, deps: Dependencies,
          timeout: float, clock: Callable[[], float] = time.monotonic) -> int:
    """Lets the work already acknowledged finish for at most `timeout` seconds; how many pieces are left. What
    is left is on the record in the database (a request being applied holds a lease that runs out), and the
    sweep of the next instance to start finishes it."""
    deadline = clock() + timeout
    log.info("shutting down: finishing the work already acknowledged, for at most %.0f s", timeout)
    if sweeper is not None:
        sweeper.stop(timeout=0)
    if watcher is not None:
        watcher.stop(timeout=max(0.0, deadline - clock()))
    executor.wait_idle(timeout=max(0.0, deadline - clock()))
    if sweeper is not None:
        sweeper.stop_inbox(timeout=0)  # what is left unfinished, another instance redoes once its leases lapse
    left = executor.pending
    if left:
        log.warning("shutting down with %d piece(s) of work unfinished after %.0f s (BACKUP_BOT_DRAIN_TIMEOUT): "
                    "the sweep finishes what they started once an instance runs again", left, timeout)
        return left
    executor.shutdown(wait=True)
    deps.close()
    deps.store.close()
    log.info("shut down: all work finished")
    return 0


# How long Socket Mode may be without a connection before /healthz says so: Slack's own refresh of a connection,
# and a reconnect after a drop, take a few seconds.
SOCKET_GRACE_SECONDS = 10.0


class SocketConnection:
    """Whether `backup-bot socket` is connected to Slack, for /healthz: without a connection it receives nothing,
    whatever its database says, so a probe is told once one has been missing past SOCKET_GRACE_SECONDS."""

    def __init__(self, connected: Callable[[], bool], clock: Callable[[], float] = time.monotonic):
        self.connected = connected
        self.clock = clock
        self._gone_since: float | None = None
        self._lock = threading.Lock()

    def closed(self, *_: object) -> None:
        """Slack closed the connection (slack_sdk's on_close listener)."""
        with self._lock:
            self._gone_since = self._gone_since if self._gone_since is not None else self.clock()

    def told(self, report: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self.connected():
                self._gone_since = None
                return report
            self._gone_since = self._gone_since if self._gone_since is not None else self.clock()
            gone = self.clock() - self._gone_since
        if gone < SOCKET_GRACE_SECONDS:
            return report
        return {**report, "status": "unavailable",
                "slack": f"no Socket Mode connection for {gone:.0f} s: Slack opened none again (its log says why); "
                         "nothing from Slack reaches the bot meanwhile"}


class OneCheck:
    """`report` on a thread of its own, one at a time, within `timeout`: as under serve, a database that stops
    answering holds one thread, and each probe is told so within the bound instead of waiting with it."""

    def __init__(self, report: Callable[[], dict[str, Any]], timeout: float):
        self.report = report
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-check")
        self._running: Future[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._pool.submit(self.report)
            running = self._running
        try:
            return running.result(self.timeout)
        except TimeoutError:
            return {"status": "unavailable", "database": f"not answering within {self.timeout:g} s"}
        except Exception as exc:
            return {"status": "unavailable", "database": f"the check failed: {type(exc).__name__}"}


class HealthServer:
    """`GET /healthz` on a port of its own, for `backup-bot socket`, which has no HTTP server: 200 with JSON
    when the bot and its database are usable, 503 otherwise, as under serve (within its bound)."""

    def __init__(self, host: str, port: int, report: Callable[[], dict[str, Any]]):
        from bot.runtime.server import HEALTH_TIMEOUT_SECONDS

        check = OneCheck(report, HEALTH_TIMEOUT_SECONDS)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/healthz":
                    self.send_error(404)
                    return
                answer = check()
                body = json.dumps(answer).encode()
                self.send_response(200 if answer.get("status") == "ok" else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a probe every few seconds is not worth a log line

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="healthz", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

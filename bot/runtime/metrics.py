"""What `GET /metrics` shows, in Prometheus' text format (prometheus_client), and the log line of each request.

Labels carry kinds, outcomes, statuses and Slack's error codes: never a person, a reason or a secret.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.domain.watch import PassResult
from bot.runtime.logs import new_request_id

log = logging.getLogger("bot.requests")
REGISTRY = CollectorRegistry()
SUBCOMMANDS = {"help", "list", "show", "update", "edit", "history", "pending", "status", "create", "delete",
               "export"}
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter("backup_bot_requests", "Commands, clicks, forms and events from Slack, by kind and outcome",
                   ["kind", "outcome"], registry=REGISTRY)
ACK_SECONDS = Histogram("backup_bot_ack_seconds", "From a request's arrival at Bolt to its ack", ["type"],
                        buckets=LATENCY_BUCKETS, registry=REGISTRY)
ANSWER_SECONDS = Histogram("backup_bot_answer_seconds", "From a request's arrival to the end of the work after "
                           "its ack (the answer the person waits for)", ["type"], buckets=LATENCY_BUCKETS,
                           registry=REGISTRY)
PLANETSCALE_CALLS = Counter("backup_bot_planetscale_requests", "Requests sent to PlanetScale, by HTTP status "
                            "(`error` when no answer came)", ["status"], registry=REGISTRY)
PLANETSCALE_SECONDS = Histogram("backup_bot_planetscale_request_seconds", "Time PlanetScale took to answer",
                                buckets=LATENCY_BUCKETS, registry=REGISTRY)
BUDGET_USED = Gauge("backup_bot_planetscale_budget_used_ratio", "Share of this process's PlanetScale budget "
                    "(BACKUP_BOT_PLANETSCALE_RATE) sent within its last period", registry=REGISTRY)
PENDING = Gauge("backup_bot_requests_pending", "Change requests open (pending, approved or applying)",
                registry=REGISTRY)
DAMAGED_ROWS = Gauge("backup_bot_damaged_rows", "Requests, bulk changes and watch rows this process skips as their "
                     "JSON or numbers are damaged in the database (each named once in the log, and in /healthz)",
                     registry=REGISTRY)
WATCH_PASSES = Counter("backup_bot_watch_passes", "Passes of the watch, by outcome (`skipped`: another instance "
                       "holds the watch)", ["outcome"], registry=REGISTRY)
WATCH_DATABASES = Counter("backup_bot_watch_databases", "Databases a pass of the watch read, failed to read or "
                          "left for the next pass", ["result"], registry=REGISTRY)
WATCH_FINDINGS = Counter("backup_bot_watch_findings", "What the watch found, by kind", ["kind"], registry=REGISTRY)
SLACK_ERRORS = Counter("backup_bot_slack_api_errors", "Slack Web API calls that failed, by method and Slack's "
                       "error code", ["method", "error"], registry=REGISTRY)


# A scrape that takes longer says the database is not answering (a scraper's own timeout is often 10 s).
SCRAPE_TIMEOUT_SECONDS = 4.0
# The pending count reads the database: scrapes run one at a time on a thread of their own, never on the event
# loop nor on the threads Bolt answers Slack on, so a database that stops answering holds one thread and no ack.
_scrapes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics")
_scraping: Future[bytes] | None = None
# The worker processes' own expositions, added to this process's (bot/runtime/workers.py).
WORKERS: list[Callable[[], Sequence[bytes]]] = []


def _exposition() -> bytes:
    from bot.runtime.metrics_merge import exposition

    return exposition(REGISTRY, WORKERS)


async def metrics_endpoint(_: Request) -> Response:
    global _scraping
    if _scraping is None or _scraping.done():
        _scraping = _scrapes.submit(_exposition)
    try:
        body = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(_scraping)), SCRAPE_TIMEOUT_SECONDS)
    except TimeoutError:
        return PlainTextResponse(f"The metrics wait on the database, which is not answering within "
                                 f"{SCRAPE_TIMEOUT_SECONDS:g} s\n", status_code=503)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# --- requests from Slack ---------------------------------------------------------------------------------

@dataclass
class Arrival:
    type: str
    started: float


arrival: contextvars.ContextVar[Arrival | None] = contextvars.ContextVar("arrival", default=None)


def request_kind(body: dict[str, Any]) -> tuple[str, str]:
    """(type, kind) of a request, from a bounded set of names: `command`, `command:update`; `click`,
    `click:request_approve`; `form`, `form:edit_form`; `event`, `event:app_home_opened`."""
    if "command" in body:
        word = str(body.get("text") or "").strip().split(" ", 1)[0].lower() or "help"
        return "command", f"command:{word if word in SUBCOMMANDS else 'other'}"
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        name = str(actions[0].get("action_id") or "") if isinstance(actions[0], dict) else ""
        return "click", f"click:{name if NAME.fullmatch(name) else 'other'}"
    if kind in ("view_submission", "view_closed"):
        name = str((body.get("view") or {}).get("callback_id") or "")
        return "form", f"form:{name if NAME.fullmatch(name) else 'other'}"
    if kind == "event_callback":
        name = str((body.get("event") or {}).get("type") or "")
        return "event", f"event:{name if NAME.fullmatch(name) else 'other'}"
    return "other", "other"


def kind_of_body(body: bytes) -> tuple[str, str]:
    """The kind of a request as Slack sends it over HTTP: a form (commands, `payload=` for interactivity) or
    JSON (events)."""
    try:
        text = body.decode("utf-8")
        if text.startswith("{"):
            parsed = json.loads(text)
        else:
            form = dict(parse_qsl(text))
            parsed = json.loads(form["payload"]) if "payload" in form else form
    except (UnicodeDecodeError, ValueError, KeyError):
        return "other", "other"
    return request_kind(parsed if isinstance(parsed, dict) else {})


async def measured(body: bytes, answer: Awaitable[Response]) -> Response:
    """Bolt's answer to one request, counted, timed and logged in one line with its kind and outcome."""
    started = time.perf_counter()
    new_request_id()
    type_, kind = kind_of_body(body)
    arrival.set(Arrival(type_, started))
    outcome = "error"
    try:
        response = await answer
        outcome = OUTCOMES.get(response.status_code, "acked" if response.status_code < 400 else "error")
        return response
    finally:
        elapsed = time.perf_counter() - started
        REQUESTS.labels(kind, outcome).inc()
        ACK_SECONDS.labels(type_).observe(elapsed)
        log.info("%s %s in %.1f ms", kind, outcome, elapsed * 1000,
                 extra={"kind": kind, "outcome": outcome, "ms": round(elapsed * 1000, 1)})


OUTCOMES = {401: "bad_signature", 404: "no_listener"}


def arrived_at() -> tuple[str, float] | None:
    """The request's type and its arrival on the wall clock, for the process that does its work."""
    started = arrival.get()
    return None if started is None else (started.type, time.time() - (time.perf_counter() - started.started))


def arrived(at: tuple[str, float] | None) -> None:
    """In a worker process: the request's arrival, from `arrived_at` in the front."""
    arrival.set(None if at is None else Arrival(at[0], time.perf_counter() - max(0.0, time.time() - at[1])))


def work_finished() -> None:
    """Called when work handed over after an ack ends: the answer's time, from the request's arrival."""
    started = arrival.get()
    if started is not None:
        ANSWER_SECONDS.labels(started.type).observe(time.perf_counter() - started.started)


# --- PlanetScale ------------------------------------------------------------------------------------------

class Budget:
    """Requests sent within the last period, against the budget of that period."""

    def __init__(self) -> None:
        self.requests, self.per = 600, 60.0
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def configure(self, requests: int, per: float) -> None:
        self.requests, self.per = requests, per

    def sent(self) -> None:
        with self._lock:
            self._sent.append(time.monotonic())

    def used(self) -> float:
        with self._lock:
            horizon = time.monotonic() - self.per
            while self._sent and self._sent[0] < horizon:
                self._sent.popleft()
            return len(self._sent) / self.requests


BUDGET = Budget()
BUDGET_USED.set_function(BUDGET.used)


class MeasuredTransport(httpx.BaseTransport):
    """An httpx transport around another: each PlanetScale request counted by status and timed."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        BUDGET.sent()
        started = time.perf_counter()
        status = "error"
        try:
            response = self.inner.handle_request(request)
            status = str(response.status_code)
            return response
        finally:
            PLANETSCALE_CALLS.labels(status).inc()
            PLANETSCALE_SECONDS.observe(time.perf_counter() - started)

    def close(self) -> None:
        self.inner.close()


# --- Slack's Web API ----------------------------------------------------------------------------------------

def slack_api_error(method: str, error: str) -> None:
    """Counts a failed Web API call by its method and Slack's error code (`connection` when no answer came)."""
    method = method if re.fullmatch(r"[a-zA-Z.]{1,60}", method) else "other"
    SLACK_ERRORS.labels(method, error if NAME.fullmatch(error) else "other").inc()


# --- the watch and the requests --------------------------------------------------------------------------

def watch_pass(result: PassResult | None) -> None:
    if result is None:
        WATCH_PASSES.labels("skipped").inc()
        return
    WATCH_PASSES.labels("lost_lease" if result.lost_lease else "done").inc()
    for name, databases in (("read", result.read), ("failed", result.failed), ("deferred", result.deferred)):
        if databases:
            WATCH_DATABASES.labels(name).inc(len(databases))
    for notice in result.notices:
        WATCH_FINDINGS.labels(notice.kind.value).inc()


def count_pending(count: Callable[[], int]) -> None:
    PENDING.set_function(lambda: float(count()))


def count_damaged(count: Callable[[], int]) -> None:
    DAMAGED_ROWS.set_function(lambda: float(count()))

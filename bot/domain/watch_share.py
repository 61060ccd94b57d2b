"""The watch's share of PlanetScale's budget, and which backups it reads.

PlanetScale allows 600 requests a minute per service token, shared by people's commands and the watch. The
watch keeps to a share of it per minute, counted in HTTP requests (each page and each retry), whatever its
interval: it waits for its turn rather than giving up a call it has begun, and it waits while people's requests
need the budget, so that theirs come first.

A policy's backups are read only when something may have happened to them: never read, a backup ran since the
last read (PlanetScale's `last_ran_at` moved), its schedule changed, or a moment the last read foresaw came
(the next run overdue, the moment it would turn stale, a backup still running or in trouble, a day at most).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.backups import PolicyHealth, parse_time
from bot.domain.policy import BackupPolicy
from bot.domain.watch_skips import BackupSkips

# The share of PlanetScale's budget the watch takes by default; people's commands keep the rest.
DEFAULT_WATCH_SHARE = 0.25
# How long after a policy's next run is due its backups are read if PlanetScale says nothing ran.
OVERDUE_GRACE = timedelta(minutes=30)
# However quiet a policy, its backups are read at least this often.
LONGEST_UNREAD = timedelta(days=1)
# How long the watch waits before it looks again whether people still need the budget.
YIELD_SECONDS = 0.25


class Stopped(Exception):
    """The watch is stopping: the pass ends where it is."""


class WatchShare:
    """At most `requests` HTTP requests in any `per` seconds: a burst of `burst`, then one every
    per / (requests − burst) seconds (burst + rate × per ≤ requests, so even a sliding window holds). `take` waits
    for its turn, and while `people_first()` says people's requests need the budget; it never refuses."""

    def __init__(self, requests: int, per: float = 60.0, *, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None,
                 people_first: Callable[[], bool] | None = None):
        if requests < 1 or per <= 0:
            raise ValueError("a share needs at least one request per period")
        self.requests, self.per = requests, per
        # A sixth of the share at once by default: a small database's pass goes without a wait.
        self.burst = max(1, min(requests // 6 if burst is None else burst, requests - 1))
        self.rate = max(requests - self.burst, 1) / per
        self.clock = clock
        self.people_first = people_first or (lambda: False)
        self._stopping = threading.Event()
        self._sleep = sleep or self._wait
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = clock()
        self.taken = 0  # requests taken since made, for the bench and the metrics

    def __repr__(self) -> str:
        return f"{self.requests} requests per {self.per:g} s"

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def stop(self) -> None:
        self._stopping.set()

    def take(self) -> None:
        """One request's turn: waits for it; Stopped when the watch stops meanwhile."""
        while self.people_first() and not self._stopping.is_set():
            self._sleep(YIELD_SECONDS)
        if self._stopping.is_set():
            raise Stopped
        with self._lock:  # the turn is taken now and waited for: a place in the line, as the limiter keeps one
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = (1 - self._tokens) / self.rate if self._tokens < 1 else 0.0
            self._tokens -= 1
            self.taken += 1
        if wait > 0:
            self._sleep(wait)
            if self._stopping.is_set():
                raise Stopped


@dataclass(frozen=True)
class BackupMark:
    """What the last read of a policy's backups left to know when to read them again."""

    last_ran_at: str | None  # the policy's `last_ran_at` when they were read
    updated_at: str  # the policy's `updated_at` then: a schedule changed since reads them again
    due_at: float  # a time stamp: read them again from then on, whatever else


def backups_due(policy: BackupPolicy, mark: BackupMark | None, now: datetime) -> bool:
    """Whether the policy's backups are to be read now."""
    return (mark is None or policy.last_ran_at != mark.last_ran_at or policy.updated_at != mark.updated_at
            or now.timestamp() >= mark.due_at)


def next_mark(health: PolicyHealth, now: datetime) -> BackupMark:
    """When to read the policy's backups again, from what was read now: at the next cycle while a backup runs, a
    branch could not be read or its backups are in trouble (overdue: its recovery is told as soon as it comes);
    else when its next run is overdue or it would turn stale, a day at most."""
    policy = health.policy
    soon = now.timestamp()
    if health.unread or health.running or health.problem:
        return BackupMark(policy.last_ran_at, policy.updated_at, soon)
    # In seconds since the epoch: a float never overflows, whatever time PlanetScale gives.
    moments = [soon + LONGEST_UNREAD.total_seconds()]
    next_run = _time(policy.next_run_at)
    overdue = None if next_run is None else next_run.timestamp() + OVERDUE_GRACE.total_seconds()
    if overdue is not None and overdue > soon:
        moments.append(overdue)
    if not health.stale:
        since = health.last_success.at if health.last_success is not None else _time(policy.created_at)
        changed = _time(policy.updated_at)
        if since is not None and changed is not None:
            since = max(since, changed)
        if since is not None:
            moments.append(since.timestamp() + health.stale_after.total_seconds() + 1)
    return BackupMark(policy.last_ran_at, policy.updated_at, max(soon, min(moments)))


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


class WatchProgressStore(Protocol):
    """Where the cycle is, and when each policy's backups are due (bot/adapters/watch_progress.py)."""

    def cursor(self) -> tuple[str | None, float | None]: ...

    def advance(self, holder: str, position: str | None, cycle_started_at: float) -> bool: ...

    def backup_marks(self, organization: str, database: str) -> dict[str, BackupMark]: ...

    def save_backup_marks(self, holder: str, organization: str, database: str,
                          marks: dict[str, BackupMark]) -> bool: ...

    def backup_skips(self, databases: Collection[tuple[str, str]]) -> dict[tuple[str, str], BackupSkips]: ...

    def save_backup_skips(self, holder: str, organization: str, database: str, kept: BackupSkips) -> bool: ...


class MemoryProgress:
    """The cycle's place and the backup marks kept in memory: for a watch without a database of its own."""

    def __init__(self) -> None:
        self.position: str | None = None
        self.started: float | None = None
        self.marks: dict[tuple[str, str], dict[str, BackupMark]] = {}
        self.skips: dict[tuple[str, str], BackupSkips] = {}

    def cursor(self) -> tuple[str | None, float | None]:
        return self.position, self.started

    def advance(self, holder: str, position: str | None, cycle_started_at: float) -> bool:
        self.position, self.started = position, cycle_started_at
        return True

    def backup_marks(self, organization: str, database: str) -> dict[str, BackupMark]:
        return dict(self.marks.get((organization, database), {}))

    def save_backup_marks(self, holder: str, organization: str, database: str,
                          marks: dict[str, BackupMark]) -> bool:
        self.marks.setdefault((organization, database), {}).update(marks)
        return True

    def backup_skips(self, databases: Collection[tuple[str, str]]) -> dict[tuple[str, str], BackupSkips]:
        return {db: {key: list(items) for key, items in self.skips[db].items()} for db in databases
                if db in self.skips}

    def save_backup_skips(self, holder: str, organization: str, database: str, kept: BackupSkips) -> bool:
        self.skips[(organization, database)] = dict(kept)
        return True

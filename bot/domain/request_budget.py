"""The watch's road to PlanetScale: read-only, and at most so many HTTP requests a minute, so that people's
commands keep the rest of the rate limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from bot.domain.backups import Backup, Branch
from bot.domain.policy import BackupPolicy, PolicyUpdate
from bot.domain.ports import (
    PlanetScaleApi,
)

# PlanetScale allows 600 requests a minute per token; the watch takes a sixth of the bot's budget, in requests per
# minute whatever its interval, and people's commands keep the rest.
WATCH_SHARE = 1 / 6
DEFAULT_REQUEST_BUDGET = 100


class OverBudget(Exception):
    pass


class RequestBudget:
    """At most `requests` HTTP requests to PlanetScale in any `per` seconds (a sliding window), whatever the number
    or the interval of the passes that send them: `take` before each request, OverBudget when the window is full."""

    def __init__(self, requests: int, per: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.requests, self.per, self.clock = requests, per, clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{self.requests} requests per {self.per:g} s"

    def take(self) -> None:
        with self._lock:
            now = self.clock()
            while self._sent and self._sent[0] <= now - self.per:
                self._sent.popleft()
            if len(self._sent) >= self.requests:
                raise OverBudget
            self._sent.append(now)

    @property
    def sent(self) -> int:
        """Requests sent within the window, as of now."""
        with self._lock:
            now = self.clock()
            return sum(1 for t in self._sent if t > now - self.per)


class ReadOnlyCalls:
    """PlanetScale for the watch: reads only. Its requests are counted by the budget through `request_meter`."""

    def __init__(self, planetscale: PlanetScaleApi):
        self.planetscale = planetscale

    def list_policies(self, organization: str, database: str) -> list[BackupPolicy]:
        return self.planetscale.list_policies(organization, database)

    def get_policy(self, organization: str, database: str, policy_id: str) -> BackupPolicy:
        return self.planetscale.get_policy(organization, database, policy_id)

    def update_policy(self, organization: str, database: str, policy_id: str,
                      update: PolicyUpdate) -> BackupPolicy:  # pragma: no cover - the watch never writes
        raise AssertionError("the watch only reads")

    def list_branches(self, organization: str, database: str) -> list[Branch]:
        return self.planetscale.list_branches(organization, database)

    def list_backups(self, organization: str, database: str, branch: str, policy_id: str,
                     since: str | None = None) -> list[Backup]:
        return self.planetscale.list_backups(organization, database, branch, policy_id, since)

    def list_databases(self, organization: str) -> list[str]:
        return self.planetscale.list_databases(organization)

    def database_kind(self, organization: str, database: str) -> str:
        return self.planetscale.database_kind(organization, database)

    def worst_case_seconds(self) -> float:
        return self.planetscale.worst_case_seconds()

"""The trail of who did what. Every attempt, success, refusal and failure is one `AuditEvent`."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger("bot.audit")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AuditEvent:
    action: str  # "applied", "dry_run", "rejected_input", "failed", "refused", …
    actor: str  # Slack user ID
    organization: str
    database: str
    policy_id: str | None = None
    policy_name: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None
    reason: str | None = None
    detail: str | None = None
    channel: str | None = None
    at: str = field(default_factory=now_iso)


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...

    def latest(self, organization: str, database: str, policy_id: str | None, limit: int) -> list[AuditEvent]:
        ...


class MemoryAuditLog:
    """Keeps the latest events in memory and writes each as one JSON line to the `bot.audit` logger."""

    def __init__(self, keep: int = 1000):
        self._events: deque[AuditEvent] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._events.append(event)
        log.info("audit %s", json.dumps(asdict(event), sort_keys=True))

    def latest(self, organization: str, database: str, policy_id: str | None, limit: int) -> list[AuditEvent]:
        with self._lock:
            found = [e for e in self._events if e.organization == organization and e.database == database
                     and (policy_id is None or e.policy_id == policy_id)]
        return list(reversed(found))[:limit]

    def all(self) -> list[AuditEvent]:
        with self._lock:
            return list(self._events)

"""The trail of who did what. Every attempt, success, refusal and failure is one `AuditEvent`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


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
    request_id: str | None = None
    at: str = field(default_factory=now_iso)


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...

    def latest(self, organization: str, database: str, policy_id: str | None, limit: int) -> list[AuditEvent]:
        ...

"""What the watch keeps and tells: the last state seen of each policy, the notices for the audit channel, and
what it needs from the store to keep them under its lease.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.commands import DatabaseRef

DELETED_MARK = "deleted_outside_the_bot"  # in the last state seen of a policy that is gone
# The policy ID of the row saved with a database's first read (no policy has an empty ID); marked deleted, so
# that nothing, an instance of an earlier version included, ever takes it for a policy.
DATABASE_READ = ""
WATCH_ACTOR = "outside-the-bot"  # the actor of a change the bot did not make, in the audit trail


class NoticeKind(StrEnum):
    DRIFT = "drift"  # changed outside the bot
    CREATED = "created"  # created outside the bot
    DELETED = "deleted"  # deleted outside the bot
    UNHEALTHY = "unhealthy"  # the last backup failed, or none succeeded for too long
    RECOVERED = "recovered"


@dataclass(frozen=True)
class Notice:
    """One thing the watch tells the audit channel, kept until it is posted."""

    kind: NoticeKind
    organization: str
    database: str
    policy_id: str
    policy_name: str
    detail: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: tuple[str, ...] = ()  # for drift: the fields changed outside the bot
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = field(default_factory=time.time)

    @property
    def db(self) -> DatabaseRef:
        return DatabaseRef(self.organization, self.database)


@dataclass(frozen=True)
class Seen:
    values: dict[str, Any]  # the policy as last seen
    problem: str | None  # what was wrong with its backups when last read, or None
    at: float


class WatchStore(Protocol):
    def take_watch_lease(self, holder: str, seconds: float) -> bool: ...

    def release_watch_lease(self, holder: str) -> None: ...

    def seen_policies(self, organization: str, database: str) -> dict[str, Seen]: ...

    def save_seen(self, holder: str, organization: str, database: str, policy_id: str, values: dict[str, Any],
                  notice: Notice | None, record: AuditEvent | None = None) -> bool: ...

    def save_baseline(self, holder: str, organization: str, database: str,
                      policies: dict[str, dict[str, Any]]) -> bool: ...

    def save_problem(self, holder: str, organization: str, database: str, policy_id: str, problem: str | None,
                     notice: Notice | None, record: AuditEvent | None = None) -> bool: ...

    def policy_requests(self, organization: str, database: str, policy_id: str, states: Sequence[RequestState],
                        updated_since: float | None = None) -> list[ChangeRequest]: ...

    def record(self, event: AuditEvent) -> None: ...

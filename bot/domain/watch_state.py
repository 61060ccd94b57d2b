"""What the watch keeps and tells: the last state seen of each policy, the notices for the audit channel, and
what it needs from the store to keep them under its lease.
"""

from __future__ import annotations

import fnmatch
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.access_rules import AccessRules
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.commands import DatabaseRef
from bot.domain.ports import Claim, ListCut, PartlyUnreadable, PlanetScaleError

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

    def seen_policies(self, organization: str, database: str) -> tuple[dict[str, Seen], set[str]]: ...

    def save_seen(self, holder: str, organization: str, database: str, policy_id: str, values: dict[str, Any],
                  notice: Notice | None, record: AuditEvent | None = None) -> bool: ...

    def save_baseline(self, holder: str, organization: str, database: str,
                      policies: dict[str, dict[str, Any]]) -> bool: ...

    def save_problem(self, holder: str, organization: str, database: str, policy_id: str, problem: str | None,
                     notice: Notice | None, record: AuditEvent | None = None) -> bool: ...

    def policy_requests(self, organization: str, database: str, policy_id: str | None, states: Sequence[RequestState],
                        updated_since: float | None = None) -> list[ChangeRequest]: ...

    def record(self, event: AuditEvent) -> None: ...

    # A creation closed as not applied whose POST landed later (bot/domain/late_creations.py).
    def events_of_request(self, request_id: str) -> list[AuditEvent]: ...

    def transition(self, request_id: str, from_states: Sequence[RequestState], to: RequestState, *,
                   record: AuditEvent | None = None, release: Claim | None = None, alive: bool = False,
                   **values: object) -> ChangeRequest | None: ...


def watched_databases(rules: AccessRules, list_databases: Callable[[str], list[str]],
                      unlisted: dict[str, str] | None = None,
                      unread: dict[str, PlanetScaleError] | None = None) -> list[DatabaseRef]:
    """Every database the rules name; a pattern is matched against the organization's databases. Organizations
    named by a pattern cannot be listed and are left out. A database listed unreadably goes in `unlisted` with
    why, and hides none of the others; an organization whose list PlanetScale refused goes in `unread` with its
    error, and hides no other organization's."""
    unlisted = {} if unlisted is None else unlisted
    unread = {} if unread is None else unread
    found: dict[tuple[str, str], None] = {}
    listed: dict[str, list[str]] = {}  # each organization listed once, however many patterns name it
    for rule in rules.rules:
        for organization in rule.organizations:
            if any(ch in organization for ch in "*?["):
                continue
            for database in rule.databases:
                if any(ch in database for ch in "*?["):
                    if organization not in listed:
                        try:
                            listed[organization] = list_databases(organization)
                        except PartlyUnreadable as exc:
                            listed[organization] = exc.readable
                            if isinstance(exc, ListCut):  # those read are watched; the rest is told as unread
                                unlisted[f"{organization} databases"] = exc.user_message
                            for given, why in exc.unreadable.items():
                                unlisted[f"{organization} database {given}"] = f"PlanetScale listed it, and {why}"
                        except PlanetScaleError as exc:
                            listed[organization], unread[organization] = [], exc
                    for name in listed[organization]:
                        if fnmatch.fnmatchcase(name.lower(), database):
                            found[(organization, name.lower())] = None
                else:
                    found[(organization, database)] = None
    return [DatabaseRef(o, d) for o, d in found]


def bot_left(applied: list[ChangeRequest], name: str, value: Any) -> bool:
    """Whether the bot's newest change to this field left it at this value: only the last change the bot made to
    a field explains it, so a value set back to what an earlier change left is someone else's doing."""
    touching = [r for r in applied if _bot_value(r, name) is not _UNTOUCHED]
    if not touching:
        return False
    newest = max(touching, key=lambda r: r.updated_at)
    return bool(_bot_value(newest, name) == value)


_UNTOUCHED = object()


def _bot_value(request: ChangeRequest, name: str) -> Any:
    """The value an applied request left a field at: what it sent, or what PlanetScale set as a consequence (a
    schedule day cleared with the frequency, say); _UNTOUCHED when it did not move that field."""
    if name in request.changes:
        return request.changes[name]
    after = request.after or {}
    if name in after and after[name] != request.before.get(name):
        return after[name]
    return _UNTOUCHED

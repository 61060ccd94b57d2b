"""The read gate: before anything is read from PlanetScale for a person, whether a rule names them for the
database in this channel and which targets they may see; a refused read, and a read PlanetScale failed, go on
the audit trail."""

from __future__ import annotations

from typing import Protocol

from bot.domain.access import AccessControl
from bot.domain.access_rules import Action
from bot.domain.audit import AuditEvent
from bot.domain.commands import DatabaseRef
from bot.domain.group_directory import DirectoryError
from bot.domain.outcomes import explain
from bot.domain.policy import Target
from bot.domain.ports import PlanetScaleError

ALL_TARGETS = frozenset(t.value for t in Target)


class AuditTrail(Protocol):
    def record(self, event: AuditEvent) -> None: ...


def refusal(access: AccessControl, trail: AuditTrail, user: str, channel: str, db: DatabaseRef) -> str | None:
    """None when this person is named by a rule for this database here; else why not, recorded as refused."""
    try:
        seen = access.may_see_database(user, db.organization, db.database, channel)
    except DirectoryError as exc:
        reason = explain(exc)
    else:
        if seen.allowed:
            return None
        reason = seen.reason
    record_refusal(trail, user, channel, db, reason)
    return reason


def readable_targets(access: AccessControl, user: str, channel: str, db: DatabaseRef) -> set[str]:
    """The targets this person may see; one whose rule could not be checked (Slack's groups unread) is hidden."""
    return {t for t in ALL_TARGETS if _may_read(access, user, channel, db, t)}


def _may_read(access: AccessControl, user: str, channel: str, db: DatabaseRef, target: str) -> bool:
    return access.decided(user, Action.READ, db.organization, db.database, [target], channel).allowed


def record_refusal(trail: AuditTrail, user: str, channel: str, db: DatabaseRef, reason: str,
                   policy_id: str | None = None) -> None:
    trail.record(AuditEvent(action="refused", actor=user, organization=db.organization, database=db.database,
                            policy_id=policy_id, detail=reason, channel=channel))


def record_failed_read(trail: AuditTrail, user: str, channel: str, db: DatabaseRef, what: str,
                       exc: Exception) -> None:
    """Only PlanetScale's failures go on the record: a policy not found is the caller's to correct."""
    if isinstance(exc, PlanetScaleError):
        trail.record(AuditEvent(action="failed", actor=user, organization=db.organization, database=db.database,
                                detail=f"{what}: {exc.user_message}", channel=channel))

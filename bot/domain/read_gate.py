"""The read gate: before anything is read from PlanetScale for a person, whether a rule names them for the
database in this channel and which targets they may see; a refused read, and a read PlanetScale failed, go on
the audit trail."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from bot.domain.access import AccessControl
from bot.domain.access_rules import Action
from bot.domain.audit import AuditEvent
from bot.domain.commands import DatabaseRef
from bot.domain.group_directory import DirectoryError
from bot.domain.outcomes import Outcome, OutcomeKind, explain
from bot.domain.policy import BackupPolicy, Target
from bot.domain.ports import PlanetScaleError
from bot.domain.reading import PolicyService

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


def read_nowhere(access: AccessControl, user: str, channel: str, db: DatabaseRef, target: str) -> bool:
    """Whether this person's rules let them read `target`'s policies in no channel: such a policy is as if absent
    in what they are told. One they may read in another channel, or under a rule Slack's groups leave unchecked,
    is not: its refusal says where, or that it could not be checked."""
    # "": any channel no rule lists.
    places = {channel, ""} | {c for r in access.rules.covering(db.organization, db.database, target)
                              for c in r.channels}
    for place in places:
        try:
            if access.decide(user, Action.READ, db.organization, db.database, [target], place).allowed:
                return False
        except DirectoryError:
            return False
    return True


@dataclass(frozen=True)
class Lookup:
    """A policy looked up for a person: the reference they gave, the targets they may read here (None: all) and
    the database's policies it was found among."""

    db: DatabaseRef
    ref: str
    visible: Collection[str] | None
    listed: list[BackupPolicy]


# What a step asked of a policy ends as when nothing was done with it; the rest did something the person may see.
NOTHING_DONE = frozenset({OutcomeKind.REFUSED, OutcomeKind.INVALID, OutcomeKind.STALE_FORM})


def as_told(access: AccessControl, policies: PolicyService, user: str, channel: str, lookup: Lookup,
            policy: BackupPolicy, outcome: Outcome, gone: str | None = None) -> Outcome:
    """What the person who asked is told: about a policy their rules let them read in no channel, nothing done is
    told as for a reference nobody holds (`gone`: the door's words for a policy no longer there, when it has its
    own). Only the telling: the policy was read, judged (the refusal is on the record) and nothing sent, as for
    any other."""
    if outcome.kind not in NOTHING_DONE or not read_nowhere(access, user, channel, lookup.db, policy.target):
        return outcome
    return Outcome(OutcomeKind.NOT_FOUND, gone or policies.as_if_absent(lookup.db, lookup.ref, lookup.visible,
                                                                        lookup.listed, policy))


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

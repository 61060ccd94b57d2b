"""A change request and the states of its life, shared by the change path, the store and the doors."""

from __future__ import annotations

import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class WorkIds:
    """The IDs of what a piece of work asks, derived from its inbox key: the same, in the same order, each time
    the work is done."""

    def __init__(self, key: str, again: bool = False):
        self.key = key
        self.made = 0
        # Taken over from an instance that stopped: its first run may have done part of it (an approval recorded).
        self.again = again

    def peek(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"backup-policy-bot:{self.key}:{self.made + 1}"))

    def take(self) -> str:
        made = self.peek()
        self.made += 1
        return made


# Where a request or bulk change asked in this context takes its ID from: set by the runtime, while it does the
# work of an inbox row, so that the work redone on another instance (its first one stopped before posting what it
# stored) finds what that one stored instead of storing it twice.
work_ids: ContextVar[WorkIds | None] = ContextVar("work_ids", default=None)


def derived_id() -> str | None:
    """The next ID of this work's own (None outside such work: a fresh one is made)."""
    ids = work_ids.get()
    return ids.take() if ids is not None else None


def redone_id() -> str | None:
    """The ID this work's next request takes, within work from the inbox (None outside it): where an earlier run
    of the same work stored what it asked."""
    ids = work_ids.get()
    return ids.peek() if ids is not None else None


def work_taken_over() -> bool:
    """Whether this work is being redone after the instance that first did it stopped."""
    ids = work_ids.get()
    return ids is not None and ids.again


def asked_by_this_work(request_id: str) -> bool:
    """Whether `request_id` is the ID this work's next request takes: an earlier run of the work stored it."""
    return redone_id() == request_id


class RequestState(StrEnum):
    """pending → approved → applying → applied or failed; pending → rejected, cancelled or expired.
    applying → pending when the rules, judged again at apply time, now ask for more approvals."""

    PENDING = "pending"
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


class Expiry(StrEnum):
    """Why a request's life ended, kept as its detail: never approved, or approved and sent back to wait by the
    judge when it came to be applied (it may have waited behind another change to the policy)."""

    UNAPPROVED = "expired before enough approvals"
    AFTER_APPROVAL = "expired after it had its approvals: judged again when it came to be applied, it was not"

    @staticmethod
    def when_due(request: ChangeRequest) -> Expiry:
        # Only an approval sets `decided_by` on a request that waits (a rejection or cancel closes it).
        return Expiry.AFTER_APPROVAL if request.decided_by else Expiry.UNAPPROVED

    @staticmethod
    def of(request: ChangeRequest) -> Expiry:
        return Expiry.AFTER_APPROVAL if request.detail == Expiry.AFTER_APPROVAL else Expiry.UNAPPROVED


class ChangeKind(StrEnum):
    """What a request does to PlanetScale: PATCH a policy, POST a new one, or DELETE one."""

    UPDATE = "update"
    CREATE = "create"
    DELETE = "delete"


# Creations, deletions, renames and moves between targets of one database take turns on one lease: a name is free,
# or a database keeps its floor of policies, only if no other of them lands in between. No policy ID has a `+`.
DATABASE_LEASE = "+"

OPEN_STATES = (RequestState.PENDING, RequestState.APPROVED, RequestState.APPLYING)
CLOSED_STATES = (RequestState.APPLIED, RequestState.FAILED, RequestState.REJECTED, RequestState.CANCELLED,
                 RequestState.EXPIRED)
# Closed for good: no step moves a request on from these (a failed one may still turn out applied).
FINAL_STATES = (RequestState.APPLIED, RequestState.REJECTED, RequestState.CANCELLED, RequestState.EXPIRED)


@dataclass(frozen=True)
class PendingGroup:
    """Pending requests alike in what access is judged on: where they are and the targets they touch (the
    policy's, and the one it ends with)."""

    organization: str
    database: str
    channel: str
    targets: tuple[str, str]


@dataclass
class ChangeRequest:
    organization: str
    database: str
    policy_id: str
    policy_name: str
    requester: str
    channel: str
    before: dict[str, Any]
    changes: dict[str, Any]
    approvals_needed: int
    approvers: list[str]
    expires_at: float
    reason: str | None = None
    risks: list[str] = field(default_factory=list)
    # What a revert reverts: the applied request's ID, or the watch notice's of a change made outside the bot.
    revert_of: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: RequestState = RequestState.PENDING
    message_channel: str | None = None
    message_ts: str | None = None
    after: dict[str, Any] | None = None
    detail: str | None = None
    decided_by: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    # While applying: until when the worker that claimed it may still be sending (see ChangePath.lease_seconds).
    lease_until: float = 0.0
    # A rule asking approvals from several groups: how many from each ({"@dba-leads": 1, "@security": 1}).
    approvals_from: dict[str, int] | None = None
    # False when the bot wrote the reason (a revert): it never stands for the reason a guardrail's override asks.
    reason_by_person: bool = True
    # Closed, and shown and told everywhere it is owed: until then the sweep tells it again.
    told: bool = False
    kind: ChangeKind = ChangeKind.UPDATE
    # What the database held when asked, for the guardrails that judge more than the policy (its policies'
    # IDs, names and targets; the sizes its storage estimate is made from): see bot/domain/costs.py.
    facts: dict[str, Any] | None = None
    # Left applying by a version that recorded nothing before its PATCH (marked by revision 0017): with no
    # 'sending' entry, what PlanetScale holds says whether it landed. This version's requests never are.
    left_by_older: bool = False
    # The approvals the judge counted when it decided (approved, and again under the lease), in the order given:
    # those that sufficed, never one it no longer counts nor one beyond what it asked. None: not decided yet.
    counted: list[str] | None = None

    @property
    def policy_key(self) -> str:
        # A rename too: a name is the database's to keep unique, so two renames to one name take turns.
        if self.kind is not ChangeKind.UPDATE or "target" in self.changes or "name" in self.changes:
            return f"{self.organization}/{self.database}/{DATABASE_LEASE}"
        return f"{self.organization}/{self.database}/{self.policy_id}"

    @property
    def targets(self) -> list[str]:
        """The targets the request touches as asked: the policy's, and the new one for a move. A creation's
        `before` is the policy as it would be made, so its one target is both."""
        return [self.before["target"], self.changes.get("target", self.before["target"])]

"""A bulk change: one request over many policies. The batch holds what was asked, the policies it would change
(each as it was read, with what its own rules ask) and those it may not, with why; its approvals are the
batch's. Once approved, each policy becomes a member: an ordinary change request, applied through the one change
path (bot/domain/applying.py) under its own lease and judged again on its own. Members' outcomes are kept as the
change path's `OutcomeKind`, which the handlers render."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.audit import AuditEvent
from bot.domain.bulk_costs import SharedReads
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.naming import outside
from bot.domain.outcomes import OutcomeKind, StepUntold

# The notice a bulk change's message is owed while Slack would not update it: the sweep shows it again.
UNSHOWN = "unshown"
# At most this many policies in one bulk change: more is refused with the count, before anything is asked.
MAX_POLICIES = 100


class BatchState(StrEnum):
    PENDING = "pending"  # waiting for approvals
    APPROVED = "approved"  # its members exist and are being applied (or were)
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUSED = "refused"  # the judge refuses every policy still in it, whoever approves: no longer allowed

    @property
    def is_open(self) -> bool:
        return self is BatchState.PENDING


class SkipReason(StrEnum):
    """Why a policy the selection names is not in the change."""

    NOT_ALLOWED = "not_allowed"  # the access rules do not let the requester change it
    GUARDRAIL = "guardrail"  # a guardrail refuses the change on it
    INVALID = "invalid"  # the change does not hold on it
    NO_APPROVERS = "no_approvers"  # nobody but the requester could approve it
    UNCHANGED = "unchanged"  # it already has the values asked
    UNCHECKED = "unchecked"  # the directory could not be asked, so it could not be judged
    UNREADABLE = "unreadable"  # its database could not be read from PlanetScale
    GONE = "gone"  # chosen by ID (a retry, a form), and no longer in PlanetScale


class BatchOutcomeKind(StrEnum):
    PREVIEWED = "previewed"  # a dry run: nothing stored or sent
    REQUESTED = "requested"  # stored, waiting for approvals
    COUNTED = "counted"  # an approval counted; more are needed
    DONE = "done"  # approved: each member went through the change path (`members` says how each ended)
    TOO_MANY = "too_many"  # over MAX_POLICIES, or a glob over MAX_DATABASES_READ databases: nothing stored or sent
    NOTHING = "nothing"  # the selection names no policy the requester may change: nothing stored
    REFUSED = "refused"  # this person may not do this; nothing changed
    CLOSED = "closed"  # already decided (another click, another instance)
    REJECTED = "rejected"
    PART_REJECTED = "part_rejected"  # the rejecter's groups of policies are out; the others still wait
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NO_LONGER_ALLOWED = "no_longer_allowed"  # closed: the judge refuses each of its policies, whoever approves
    NOBODY_LEFT = "nobody_left"  # still pending: nobody left could give some of its policies' approvals (once)
    FAILED = "failed"  # reading the selection failed: nothing stored


@dataclass(frozen=True)
class Planned:
    """A policy the batch would change, as it was read when asked, and what its own rules and guardrails ask."""

    database: str
    policy_id: str
    policy_name: str
    before: dict[str, Any]
    needed: int
    groups: dict[str, int]
    risks: list[str]
    facts: dict[str, Any] | None = None  # DatabaseFacts as read when asked (the estimate's basis)
    rejected_by: str | None = None  # an approver of its group rejected it: it is out of the change

    @property
    def key(self) -> tuple[str, str]:
        return self.database, self.policy_id


@dataclass(frozen=True)
class Skipped:
    database: str
    policy_id: str | None
    policy_name: str | None
    why: SkipReason
    detail: str


@dataclass
class Batch:
    organization: str
    requester: str
    channel: str
    selection: str  # what was typed or chosen, as words: `acme/billing-* * where target=production`
    changes: dict[str, Any]
    planned: list[Planned]
    skipped: list[Skipped]
    approvals_needed: int
    expires_at: float
    reason: str | None = None
    approvals_from: dict[str, int] | None = None
    approvers: list[str] = field(default_factory=list)  # who may approve, resolved for showing
    retry_of: str | None = None
    where_target: str | None = None  # `--where target=…`: a retry of it changes only policies there still
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: BatchState = BatchState.PENDING
    decided_by: str | None = None
    message_channel: str | None = None
    message_ts: str | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def databases(self) -> list[str]:
        return list(dict.fromkeys(p.database for p in self.planned))

    @property
    def live(self) -> list[Planned]:
        """Its policies still in the change: none of their group's approvers rejected them."""
        return [p for p in self.planned if p.rejected_by is None]


@dataclass(frozen=True)
class Member:
    """A policy of an approved batch: its change request, and how its change path step ended (None: not yet
    known here, e.g. the sweep is finishing it; its request's state says where it stands)."""

    request: ChangeRequest
    outcome: OutcomeKind | None

    @property
    def not_applied(self) -> bool:
        """Ended without being applied: failed, or, sent back to waiting, rejected, cancelled or expired."""
        return self.done and self.request.state is not RequestState.APPLIED

    @property
    def retryable(self) -> bool:
        """Not applied, and no person decided so: a Retry asks it again."""
        return self.request.state in (RequestState.FAILED, RequestState.EXPIRED)

    @property
    def done(self) -> bool:
        return not self.request.state.is_open


@dataclass(frozen=True)
class BatchOutcome:
    kind: BatchOutcomeKind
    message: str
    batch: Batch | None = None
    members: tuple[Member, ...] = ()
    count: int = 0  # for TOO_MANY: how many policies (or databases) the selection named
    reads: SharedReads | None = None  # the step's reads: its message, drawn next, stands on them (not read again)
    # Chosen by ID when they were shown (a form, a retry), hidden by the rules here since: told to the asker alone.
    hidden_chosen: tuple[tuple[str, str], ...] = ()  # (database, policy ID)
    # For NOBODY_LEFT: the groups (or the rules' approvers) with nobody left to give the approvals still needed.
    nobody_left: tuple[str, ...] = ()


class BatchStore(Protocol):
    """Where batches, their approvals and their members live (bot/adapters/batch_store.py)."""

    def add_batch(self, batch: Batch, records: Sequence[AuditEvent] = ()) -> Batch:
        """The batch as stored: for a retry, the retry of the same batch already pending, or approved with a
        policy of this one, if one is (then nothing is stored), so that two Retry clicks, on one instance or two,
        ask once."""
        ...

    def get_batch(self, batch_id: str) -> Batch | None: ...

    def retries_of(self, batch_id: str) -> list[Batch]:
        """The retries of a batch still pending or approved, the oldest first."""
        ...

    def close_batch(self, batch_id: str, to: BatchState, decided_by: str | None,
                    records: Sequence[AuditEvent] = ()) -> Batch | None:
        """pending → `to`, once across instances, with those of `records` (one per policy) whose policy is still
        in the change as the move finds it: one rejected since the caller read the batch has its end recorded
        already. None if it was not pending."""
        ...

    def add_batch_approval(self, batch_id: str, approver: str,
                           records: Sequence[AuditEvent] = ()) -> list[str] | None:
        """All approvers so far, None (nothing recorded) if this one had approved already, or [] (nothing
        stored) if the batch is no longer pending (a cancel or a rejection landed first) or its life is over.
        The same write records `records` and makes it due for the sweep's judging APPROVED_STALE_SECONDS
        later."""
        ...

    def batch_approvers(self, batch_id: str) -> list[str]: ...

    def approvers_by_batch(self, batch_ids: Sequence[str]) -> dict[str, list[str]]:
        """`batch_approvers` for many batches at once: every ID is a key."""
        ...

    def reject_planned(self, batch_id: str, rejecter: str, keys: Sequence[tuple[str, str]],
                       records: Sequence[AuditEvent]) -> Batch | None:
        """The planned policies `keys` (database, policy ID) rejected by `rejecter`, with `records`, and the batch
        rejected when none is left, in one transaction that takes turns with its approvals and closes; `records`
        only for those this write takes out (one rejected meanwhile keeps the record of that rejection); None
        (nothing stored) if the batch is no longer pending, its life is over, or those were rejected already."""
        ...

    def approve_batch(self, batch_id: str, decided_by: str, members: Sequence[ChangeRequest],
                      approvers: Sequence[str]) -> bool:
        """pending → approved with its members stored (approved, each with the batch's approvals), in one
        transaction and once across instances: False if another click or instance did it first, or its life
        is over by the clock (checked in the same write). Their approvals are on the trail since each click
        (add_batch_approval)."""
        ...

    def set_member_outcome(self, request_id: str, outcome: OutcomeKind) -> None: ...

    def batch_members(self, batch_id: str) -> list[Member]:
        """In the order they were planned."""
        ...

    def set_batch_message(self, batch_id: str, channel: str, ts: str) -> None: ...

    def expired_batches(self, before: float) -> list[Batch]:
        """Pending batches whose time ran out before `before`, the oldest first."""
        ...

    def open_batches(self, limit: int | None = 200) -> list[Batch]:
        """Pending batches, the oldest first; all of them where `limit` is None."""
        ...

    def batch_judging_turns(self, now: float, limit: int, next_at: float) -> list[Batch]:
        """Pending batches due to be judged again by `now`, the longest due first, at most `limit`, the oldest
        first; each due next at `next_at`, in the same write (another instance sweeping takes others)."""
        ...

    def judge_batch_later(self, batch_id: str, at: float) -> None:
        """The pending batch due to be judged again at `at`."""
        ...

    def unthreaded_batches(self, limit: int = 50) -> list[Batch]:
        """Batches whose message is posted but whose list of policies is not in its thread (Slack refused it,
        or the instance stopped): the newest first."""
        ...

    def unfinished_batches(self, limit: int = 50) -> list[Batch]:
        """Approved batches whose members have all ended but whose outcomes are not in the thread of their
        message, or not in their requester's direct messages (Slack refused them, or the instance stopped): the
        newest first."""
        ...

    def batch_of_request(self, request_id: str) -> str | None:
        """The batch a member request belongs to (None: an ordinary request)."""
        ...


def batch_records(batch: Batch, action: str, actor: str = "backup-bot") -> list[AuditEvent]:
    """One record per policy still in the batch, for a step on the whole of it."""
    return [AuditEvent(action=action, actor=actor, organization=batch.organization, database=p.database,
                       policy_id=p.policy_id, policy_name=p.policy_name, before=p.before, sent=batch.changes,
                       reason=batch.reason, channel=batch.channel, detail=f"bulk change {batch.id[:8]}")
            for p in batch.live]


def approval_records(batch: Batch, approver: str, keys: Sequence[tuple[str, str]]) -> list[AuditEvent]:
    """An approval of the policies `keys` (database, policy ID), one record each, under the ID its request
    takes once the batch is approved: on the trail at the click, whatever becomes of the batch."""
    return [replace(r, request_id=member_id(batch.id, (r.database, r.policy_id or "")))
            for r in batch_records(batch, "approved", approver) if (r.database, r.policy_id) in keys]


def member_id(batch_id: str, key: tuple[str, str]) -> str:
    """The ID of the request a policy of the batch becomes: the same at each approval as once approved."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"backup-policy-bot:bulk:{batch_id}:{key[0]}:{key[1]}"))


def refused_records(batch: Batch) -> list[AuditEvent]:
    """Each policy the change may not make, on the record with why (one already as asked is no refusal)."""
    return [AuditEvent(action="refused", actor=batch.requester, organization=batch.organization,
                       database=s.database, policy_id=s.policy_id, policy_name=s.policy_name,
                       sent=batch.changes, channel=batch.channel, detail=f"bulk change on {batch.selection}: "
                                                                         f"{s.detail}")
            for s in batch.skipped if s.why is not SkipReason.UNCHANGED]


# Where each step's outcome leaves its bulk change, in words: told when telling it failed.
BATCH_STANDS = {BatchOutcomeKind.REQUESTED: "waiting for approval", BatchOutcomeKind.COUNTED: "waiting for approval",
                BatchOutcomeKind.PART_REJECTED: "waiting for approval", BatchOutcomeKind.DONE: "approved",
                BatchOutcomeKind.REJECTED: "rejected", BatchOutcomeKind.CANCELLED: "cancelled",
                BatchOutcomeKind.EXPIRED: "expired",
                BatchOutcomeKind.NO_LONGER_ALLOWED: "closed: the access rules as they are now refuse its policies"}


@contextmanager
def telling_batch(outcome: BatchOutcome) -> Iterator[None]:
    """Telling a step on a bulk change: a failure after the step stored or moved it is raised as StepUntold, so
    that the person hears where it stands (how many policies were applied) rather than that nothing was done."""
    try:
        yield
    except Exception as exc:
        stands = BATCH_STANDS.get(outcome.kind)
        batch = outcome.batch
        if batch is None or stands is None:
            raise
        applied = sum(m.request.state is RequestState.APPLIED for m in outcome.members)
        if outcome.kind is BatchOutcomeKind.DONE and outcome.members:
            stands += f", {applied} of its {len(outcome.members)} policies applied so far"
        raise StepUntold(batch_stands(batch, stands), waiting=stands.startswith("waiting")) from exc


def batch_stands(batch: Batch, stands: str) -> str:
    return f"The bulk change “{outside(batch.selection)}” of {batch.organization} is {stands}"

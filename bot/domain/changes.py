"""The one change path every door goes through: command, modal, buttons, revert, sweep.

A change is judged when it is asked and judged again when it applies, under the access rules and the policy
as they are at that moment:

- asking: may this person see the database (before anything is read), may they change this policy from its
  current target to its new one, does the change pass `check_change`; refusals are recorded here;
- deciding: approvers are judged under the request's own channel rule, each counts once, nobody approves
  their own request;
- applying, under the policy's lease (one change at a time per policy, across threads and instances): the
  policy is read again, and the change is sent only if the target has not moved, no field the request changes
  has moved, the whole change still passes `check_change`, the requester may still make it, and enough
  approvals count from people who may still approve. Otherwise nothing is sent and the request is closed (or,
  when only approvals are missing under tightened rules, sent back to pending) with the reason in words.

The doors only translate a payload into a call here and an `Outcome` into Slack.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from typing import Any

from bot.domain.access import AccessControl, Action, Decision, DirectoryError, reminder_at
from bot.domain.approval_groups import assign, missing
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.grammar import DatabaseRef
from bot.domain.guardrails import Demand, demand, judge
from bot.domain.policy import (
    EDITABLE_FIELDS,
    BackupPolicy,
    ChangeRejected,
    PolicyUpdate,
    Problem,
    check_change,
    describe_every,
    hours,
    resulting_values,
)
from bot.domain.ports import ChangeStore, Claim, PlanetScaleApi, PlanetScaleError
from bot.domain.reading import PolicyNotFound, PolicyService

log = logging.getLogger(__name__)
SYSTEM = "backup-bot"
# Room for the database writes around the PATCH, beyond the PlanetScale client's own worst case.
LEASE_MARGIN_SECONDS = 30.0
# How long a request left approved by a crash (before it was claimed) waits before the sweep applies it.
APPROVED_STALE_SECONDS = 60.0
# How long a click waits for another change to the same policy to finish before leaving it to the sweep.
CLAIM_WAIT_SECONDS = 15.0
LEASE_POLL_SECONDS = 0.05


class OutcomeKind(StrEnum):
    PREVIEWED = "previewed"  # a dry run: nothing sent, nothing requested
    READY = "ready"  # the person may change the policy, which the outcome carries: a form can be filled
    REQUESTED = "requested"  # waits for approval
    APPLIED = "applied"
    COUNTED = "counted"  # an approval counted; more are needed
    WAITING = "waiting"  # judged again, the rules now ask for more approvals: back to pending
    REFUSED = "refused"  # this person may not do this; nothing changed
    INVALID = "invalid"  # the change does not hold as a whole; nothing sent
    NOT_FOUND = "not_found"
    STALE_FORM = "stale_form"  # the policy changed after the form was filled; nothing sent
    CLOSED = "closed"  # the request was already decided, expired or is being applied
    CONFLICT = "conflict"  # the policy moved in PlanetScale since the request; nothing sent
    NO_LONGER_ALLOWED = "no_longer_allowed"  # the rules as they are now refuse it; nothing sent
    FAILED = "failed"  # PlanetScale (or a read) failed
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    QUEUED = "queued"  # another change to the same policy is being applied; the sweep applies this one next
    REMINDED = "reminded"  # the sweep found a reminder due for a pending request (claimed once)


# The kinds after which the request's message must be shown again.
REQUEST_MOVED = frozenset({OutcomeKind.REQUESTED, OutcomeKind.APPLIED, OutcomeKind.COUNTED, OutcomeKind.WAITING,
                           OutcomeKind.CONFLICT, OutcomeKind.NO_LONGER_ALLOWED, OutcomeKind.FAILED,
                           OutcomeKind.REJECTED, OutcomeKind.CANCELLED, OutcomeKind.EXPIRED,
                           OutcomeKind.INVALID, OutcomeKind.CLOSED})


@dataclass(frozen=True)
class ChangePlan:
    db: DatabaseRef
    before: BackupPolicy
    update: PolicyUpdate
    reason: str | None
    # False when the bot wrote the reason (a revert): it does not count as the reason a guardrail's override asks.
    reason_by_person: bool = True

    @property
    def after_values(self) -> dict[str, Any]:
        return resulting_values(self.before, self.update)


@dataclass(frozen=True)
class Outcome:
    """What a step did. `message` is for the person who acted; `request` is the request as it now stands."""

    kind: OutcomeKind
    message: str
    request: ChangeRequest | None = None
    after: BackupPolicy | None = None
    plan: ChangePlan | None = None
    approvals: int = 0
    current: BackupPolicy | None = None  # for STALE_FORM: the policy as it is now
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    guardrails: tuple[str, ...] = ()  # for PREVIEWED: each guardrail bound the change meets or breaks, in words
    notices: tuple[str, ...] = ()  # for REMINDED: the notices claimed for it, to give back if it cannot be sent

    @property
    def request_moved(self) -> bool:
        return self.request is not None and self.kind in REQUEST_MOVED


def explain(exc: BaseException, reference: str | None = None) -> str:
    """One failure in the words of the person who asked: what happened and what to do. `reference` is where an
    unexpected failure can be found in the log (a request ID)."""
    if isinstance(exc, PlanetScaleError | PolicyNotFound):
        return exc.user_message
    if isinstance(exc, ChangeRejected):
        return "Nothing was sent to PlanetScale:\n" + "\n".join(f"• {p.message}" for p in exc.problems)
    if isinstance(exc, DirectoryError):
        return f"Your access could not be checked, so nothing was done: {exc}."
    where = f" under request `{reference}`" if reference else ""
    return f"Something went wrong inside the bot; nothing more was done. The error is in its log{where}."


def risks_of(before: BackupPolicy, after: dict[str, Any]) -> list[str]:
    """What makes a change worth a second look, in words."""
    found = []
    if "production" in (before.target, after["target"]):
        found.append("production backups")
    if before.target != after["target"]:
        found.append(f"moves the policy from {before.target} to {after['target']}")
    if hours(after["retention_value"], after["retention_unit"]) < hours(before.retention_value,
                                                                        before.retention_unit):
        found.append("keeps backups for less time")
    if hours(after["frequency_value"], after["frequency_unit"]) > hours(before.frequency_value,
                                                                        before.frequency_unit):
        found.append(f"backs up less often ({describe_every(after['frequency_value'], after['frequency_unit'])})")
    if before.required:
        found.append("a required system policy")
    return found


def request_event(action: str, request: ChangeRequest, actor: str, **extra: Any) -> AuditEvent:
    """An audit entry about a request."""
    return AuditEvent(action=action, actor=actor, organization=request.organization, database=request.database,
                      policy_id=request.policy_id, policy_name=request.policy_name, before=request.before,
                      sent=request.changes, reason=request.reason, channel=request.channel, request_id=request.id,
                      **extra)


def unknown_button(user: str, channel: str | None, button: str, reference: str) -> AuditEvent:
    """A refusal on the record for a button naming a request or change the bot does not know (a forged or
    foreign click): no database to file it under, so it shows in the audit export, not in any history."""
    shown = reference if len(reference) <= 64 and reference.isprintable() else repr(reference[:64]) + "…"
    return AuditEvent(action="refused", actor=user, organization="", database="", channel=channel,
                      detail=f"{button} on {shown}, which this bot does not know")


def after_values(request: ChangeRequest) -> dict[str, Any]:
    return resulting_values(BackupPolicy.model_validate(request.before), PolicyUpdate(**request.changes))


def describe_state(request: ChangeRequest) -> str:
    by = f" by <@{request.decided_by}>" if request.decided_by and request.state in (
        RequestState.REJECTED, RequestState.CANCELLED) else ""
    return {RequestState.PENDING: "waiting for approval",
            RequestState.APPROVED: "approved and about to be applied",
            RequestState.APPLYING: "being applied", RequestState.APPLIED: "applied", RequestState.FAILED: "failed",
            RequestState.REJECTED: f"rejected{by}", RequestState.CANCELLED: f"cancelled{by}",
            RequestState.EXPIRED: "expired"}[request.state]


@dataclass(frozen=True)
class _Judgement:
    """A request judged under the rules as they are now: who may approve it, how many approvals it needs and
    which count; `refusal` when the requester may no longer make it."""

    needed: int = 0
    counted: tuple[str, ...] = ()
    not_counted: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    refusal: str | None = None
    # Slack or PlanetScale could not say who someone is: nothing is sent, and nothing is closed for it either.
    unchecked: str | None = None
    # A rule asking approvals from several groups: what each gives, and what each still owes.
    groups: tuple[tuple[str, int], ...] = ()
    owed: tuple[tuple[str, int], ...] = ()

    @property
    def missing(self) -> int:
        """Approvals still needed: what the groups still owe, and at least enough to reach the count (which a
        guardrail's override may set above the groups' sum)."""
        return max(0, sum(n for _, n in self.owed), self.needed - len(self.counted))


class PolicyTurns:
    """Within one process, the changes waiting for the same policy take turns on a lock instead of each asking
    the database for its lease every few milliseconds: in a burst, those polls cost more than the changes. Across
    instances the database's lease still decides."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._turns: dict[str, tuple[threading.Lock, int]] = {}  # a policy's lock, and how many hold or want it

    @contextlib.contextmanager
    def turn(self, key: str, timeout: float) -> Iterator[bool]:
        """This thread's turn at `key` (True), or False when `timeout` seconds passed first."""
        with self._guard:
            lock, users = self._turns.get(key) or (threading.Lock(), 0)
            self._turns[key] = (lock, users + 1)
        got = lock.acquire(timeout=timeout)
        try:
            yield got
        finally:
            if got:
                lock.release()
            with self._guard:
                lock, users = self._turns[key]
                if users == 1:
                    del self._turns[key]
                else:
                    self._turns[key] = (lock, users - 1)


class ChangePath:
    def __init__(self, store: ChangeStore, policies: PolicyService, planetscale: PlanetScaleApi,
                 access: AccessControl, clock: Callable[[], float] = time.time,
                 pause: Callable[[float], None] = time.sleep):
        self.store = store
        self.turns = PolicyTurns()
        self.policies = policies
        self.planetscale = planetscale
        self.access = access
        self.clock = clock
        self.pause = pause

    @property
    def lease_seconds(self) -> float:
        """An applying worker reads the policy once and sends one PATCH: both at their slowest, plus the writes."""
        return 2 * self.planetscale.worst_case_seconds() + LEASE_MARGIN_SECONDS

    # --- the audit trail ------------------------------------------------------------------------------

    def _record_request(self, action: str, request: ChangeRequest, actor: str, **extra: Any) -> None:
        self.store.record(request_event(action, request, actor, **extra))

    def _refuse(self, user: str, db: DatabaseRef, channel: str, reason: str, policy: BackupPolicy | None = None,
                update: PolicyUpdate | None = None, request_id: str | None = None) -> Outcome:
        self.store.record(AuditEvent(
            action="refused", actor=user, organization=db.organization, database=db.database,
            policy_id=policy.id if policy else None, policy_name=policy.name if policy else None,
            before=policy.model_dump() if policy else None, sent=update.to_api() if update else None,
            detail=reason, channel=channel, request_id=request_id))
        return Outcome(OutcomeKind.REFUSED, reason)

    def _failed_read(self, user: str, db: DatabaseRef, channel: str, what: str, exc: PlanetScaleError) -> Outcome:
        self.store.record(AuditEvent(action="failed", actor=user, organization=db.organization,
                                     database=db.database, detail=f"{what}: {exc.user_message}", channel=channel))
        return Outcome(OutcomeKind.FAILED, exc.user_message)

    # --- asking -----------------------------------------------------------------------------------------

    def ask(self, user: str, channel: str, db: DatabaseRef, ref: str, update: PolicyUpdate,
            reason: str | None = None, dry_run: bool = False, expected: BackupPolicy | None = None) -> Outcome:
        """A change asked through a door. `expected` is the policy as a form showed it: if it has changed since,
        nothing is sent and the outcome carries the policy as it is now."""
        found = self._read_for_change(user, channel, db, expected.id if expected else ref)
        if isinstance(found, Outcome):
            return found
        current, generation = found
        if expected is not None:
            moved = [f for f in EDITABLE_FIELDS if current.field_value(f) != expected.field_value(f)]
            if moved:
                return Outcome(OutcomeKind.STALE_FORM, "The policy changed in PlanetScale after you opened the "
                               "form, so nothing was sent.", current=current)
        return self._request(user, channel, ChangePlan(db, current, update, reason), dry_run=dry_run,
                             read_at_generation=generation)

    def prepare_edit(self, user: str, channel: str, db: DatabaseRef, ref: str) -> Outcome:
        """Before a form is filled with a policy: may this person change it, as it is now? READY carries it."""
        found = self._read_for_change(user, channel, db, ref)
        if isinstance(found, Outcome):
            return found
        current, _ = found
        try:
            decision = self.access.decide(user, Action.CHANGE, db.organization, db.database, [current.target],
                                          channel)
        except DirectoryError as exc:
            decision = Decision(False, reason=explain(exc))
        if not decision.allowed:
            return self._refuse(user, db, channel, decision.reason, current)
        return Outcome(OutcomeKind.READY, "", current=current, approvals=decision.approvals)

    def _read_for_change(self, user: str, channel: str, db: DatabaseRef,
                         ref: str) -> tuple[BackupPolicy, int] | Outcome:
        """The policy as it is now, with the generation it was read at; nothing is read for someone no rule for
        this database names here."""
        try:
            seen = self.access.may_see_database(user, db.organization, db.database, channel)
        except DirectoryError as exc:
            return self._refuse(user, db, channel, explain(exc))
        if not seen.allowed:
            return self._refuse(user, db, channel, seen.reason)
        generation = self.store.database_generation(db.organization, db.database)
        try:
            visible = {t for t in ("production", "development") if self.access.decide(
                user, Action.READ, db.organization, db.database, [t], channel).allowed}
        except DirectoryError as exc:
            return self._refuse(user, db, channel, explain(exc))
        try:
            return self.policies.find_policy(db, ref, visible), generation
        except PolicyNotFound as exc:
            return Outcome(OutcomeKind.NOT_FOUND, exc.user_message)
        except PlanetScaleError as exc:
            return self._failed_read(user, db, channel, "reading the policy to change it", exc)

    def revert(self, request_id: str, user: str, channel: str) -> Outcome:
        """The inverse of an applied change, asked by `user` under the same rules as any change."""
        original = self.store.get_request(request_id)
        if original is None:
            self.store.record(unknown_button(user, channel, "Revert", request_id))
            return Outcome(OutcomeKind.REFUSED, "That change does not exist (the button may not be from this bot).")
        if original.state is not RequestState.APPLIED:
            self._record_request("refused", original, user, detail="revert of a change that was not applied")
            return Outcome(OutcomeKind.REFUSED, "Only an applied change can be reverted, and this one is "
                                                f"{describe_state(original)}.")
        db = DatabaseRef(original.organization, original.database)
        # The day and week PlanetScale cleared as the schedule went to hours or days come back with it.
        moved = [f for f in ("schedule_day", "schedule_week")
                 if original.after and original.after.get(f) != original.before.get(f)]
        # The targets as recorded, the policy's target after the change first.
        return self._revert(db, original.policy_id, {f: original.before[f] for f in [*original.changes, *moved]},
                            list(reversed(original.targets)), user, channel,
                            f"revert of the change requested by <@{original.requester}>", revert_of=original.id)

    def revert_outside_change(self, db: DatabaseRef, policy_id: str, earlier: Mapping[str, Any],
                              later: Mapping[str, Any], user: str, channel: str, seen_at: str) -> Outcome:
        """The inverse of a change the watch saw made outside the bot (`earlier` → `later`, only the fields it
        changed), asked by `user` like any change: access, guardrails, approvals."""
        recorded = [str(later.get("target", earlier.get("target"))), str(earlier.get("target", later.get("target")))]
        return self._revert(db, policy_id, dict(earlier), recorded, user, channel,
                            f"revert of a change made outside the bot (seen {seen_at})")

    def _revert(self, db: DatabaseRef, policy_id: str, inverse: dict[str, Any], recorded: list[str], user: str,
                channel: str, reason: str, revert_of: str | None = None) -> Outcome:
        """Ask `inverse` as a change: judged on the recorded targets before anything is read, then as any change.
        The reason is the bot's, so it does not stand for the one a guardrail's override asks of a person."""
        # A day or week that was null is not sent: the PATCH takes no nulls, and PlanetScale clears them itself
        # when the schedule goes back to hours or days.
        inverse = {f: value for f, value in inverse.items() if value is not None}
        try:
            decision = self.access.decide(user, Action.CHANGE, db.organization, db.database, recorded, channel)
        except DirectoryError as exc:
            decision = Decision(False, reason=explain(exc))
        if not decision.allowed:
            return self._refuse(user, db, channel, decision.reason, request_id=revert_of)
        generation = self.store.database_generation(db.organization, db.database)
        try:
            current = self.policies.find_policy(db, policy_id)
        except PolicyNotFound as exc:
            return Outcome(OutcomeKind.NOT_FOUND, exc.user_message)
        except PlanetScaleError as exc:
            return self._failed_read(user, db, channel, "reading the policy to revert a change", exc)
        if all(current.field_value(f) == value for f, value in inverse.items()):
            return Outcome(OutcomeKind.INVALID, "The policy already has the values from before this change; "
                                                "nothing to revert.")
        plan = ChangePlan(db, current, PolicyUpdate(**inverse), reason, reason_by_person=False)
        return self._request(user, channel, plan, revert_of=revert_of, read_at_generation=generation)

    def _request(self, user: str, channel: str, plan: ChangePlan, read_at_generation: int, dry_run: bool = False,
                 revert_of: str | None = None) -> Outcome:
        db, current = plan.db, plan.before
        targets = [current.target, str(plan.update.target or current.target)]
        try:
            decision = self.access.decide(user, Action.CHANGE, db.organization, db.database, targets, channel)
        except DirectoryError as exc:
            decision = Decision(False, reason=explain(exc))
        if not decision.allowed:
            return self._refuse(user, db, channel, decision.reason, current, plan.update, revert_of)
        problems = check_change(current, plan.update)
        if problems:
            return Outcome(OutcomeKind.INVALID, explain(ChangeRejected(problems)), problems=tuple(problems))
        guarded = self.guardrails_demand(db.organization, db.database, current.model_dump(), plan.after_values,
                                         plan.reason if plan.reason_by_person else None)
        if guarded.refusal:
            return self._refuse(user, db, channel, f"Nothing was sent: {guarded.refusal}.", current, plan.update,
                                revert_of)
        needed = max(decision.approvals, guarded.approvals)
        if needed and not decision.approvers:
            rule = decision.rule.where if decision.rule else "the access rule"
            return self._refuse(user, db, channel, f"Nothing was sent: this change needs {needed} approval(s) "
                                f"because it breaks a guardrail, and {rule} names no approvers to give them: "
                                "ask whoever keeps the access file to add some.", current, plan.update, revert_of)
        overridden = [f"overrides {c.guardrail.where}: {c.message}" for c in guarded.verdict.broken]
        if dry_run:
            self.store.record(AuditEvent(
                action="dry_run", actor=user, organization=db.organization, database=db.database,
                policy_id=current.id, policy_name=current.name, before=current.model_dump(),
                sent=plan.update.to_api(), reason=plan.reason, channel=channel))
            return Outcome(OutcomeKind.PREVIEWED, "Dry run: nothing was sent.", plan=plan, approvals=needed,
                           guardrails=tuple(guarded.verdict.summary()))
        now = self.clock()
        # A change that needs no approval is approved by its asking: stored approved, with its audit entry.
        request = ChangeRequest(
            organization=db.organization, database=db.database, policy_id=current.id, policy_name=current.name,
            requester=user, channel=channel, reason=plan.reason, before=current.model_dump(),
            changes=plan.update.to_api(), approvals_needed=needed,
            approvals_from=dict(decision.approvals_from) or None,
            approvers=[self.access.groups.resolve(p) for p in decision.approvers],
            risks=risks_of(current, plan.after_values) + overridden, revert_of=revert_of,
            expires_at=now + self.access.rules.expire_after_seconds, created_at=now, updated_at=now,
            state=RequestState.PENDING if needed else RequestState.APPROVED, decided_by=None if needed else user)
        self.store.add_request(request, record=request_event(
            "requested", request, user, detail=f"needs {needed} approval(s)" if needed else None))
        if request.approvals_needed:
            return Outcome(OutcomeKind.REQUESTED, "Your request is waiting for approval.", request,
                           approvals=request.approvals_needed)
        return self._apply(request, by=user, read=(current, read_at_generation))

    # --- deciding ---------------------------------------------------------------------------------------

    def _open_request(self, request_id: str, user: str, button: str) -> ChangeRequest | Outcome:
        request = self.store.get_request(request_id)
        if request is None:
            self.store.record(unknown_button(user, None, button, request_id))
            return Outcome(OutcomeKind.REFUSED, "That request does not exist (the button may not be from this bot).")
        if request.state is RequestState.PENDING and request.expires_at <= self.clock():
            expired = self.store.transition(request.id, [RequestState.PENDING], RequestState.EXPIRED,
                                            detail="expired before enough approvals")
            if expired:
                self._record_request("expired", expired, SYSTEM)
                return Outcome(OutcomeKind.EXPIRED, "This request has expired; nothing was done. Ask again if it "
                                                    "is still needed.", expired)
            request = self.store.get_request(request_id) or request
        if request.state is not RequestState.PENDING:
            return Outcome(OutcomeKind.CLOSED, f"This request is already {describe_state(request)}; nothing more "
                                               "was done.", request)
        return request

    def approve(self, request_id: str, user: str) -> Outcome:
        found = self._open_request(request_id, user, "Approve")
        if isinstance(found, Outcome):
            return found
        request = found
        refusal = self._may_decide(request, user)
        if refusal:
            return refusal
        added = self.store.add_approval(request.id, user, record=request_event("approved", request, user))
        judged = self._judge_approvals(request, request.targets, request.before, approved_by=added)
        if judged.unchecked:
            return Outcome(OutcomeKind.REFUSED, f"Nothing was sent: {judged.unchecked}. Your approval is recorded; "
                                                "click Approve again in a moment to apply the change.", request)
        if judged.refusal:
            return self._close_pending(request, judged.refusal)
        if judged.missing:
            return self._still_waiting(request, judged, user,
                                       "You have already approved this request; each approver counts once."
                                       if added is None else None)
        approved = self.store.transition(request.id, [RequestState.PENDING], RequestState.APPROVED,
                                         decided_by=user, approvals_needed=judged.needed, detail=None)
        if approved is None:
            return self._already(request)
        return self._apply(approved, by=user)

    def reject(self, request_id: str, user: str) -> Outcome:
        found = self._open_request(request_id, user, "Reject")
        if isinstance(found, Outcome):
            return found
        refusal = self._may_decide(found, user)
        if refusal:
            return refusal
        return self._close(found, RequestState.REJECTED, user)

    def cancel(self, request_id: str, user: str) -> Outcome:
        found = self._open_request(request_id, user, "Cancel")
        if isinstance(found, Outcome):
            return found
        if user != found.requester:
            self._record_request("refused", found, user, detail="only the requester may cancel")
            return Outcome(OutcomeKind.REFUSED, f"Only the requester, <@{found.requester}>, can cancel this "
                                                "request.", found)
        return self._close(found, RequestState.CANCELLED, user)

    def _close(self, request: ChangeRequest, state: RequestState, user: str) -> Outcome:
        """pending → rejected or cancelled, unless another click moved it first."""
        closed = self.store.transition(request.id, [RequestState.PENDING], state, decided_by=user)
        if closed is None:
            return self._already(request)
        self._record_request(state.value, closed, user)
        kind = OutcomeKind.REJECTED if state is RequestState.REJECTED else OutcomeKind.CANCELLED
        return Outcome(kind, f"{state.value.capitalize()}: nothing was sent to PlanetScale.", closed)

    def _already(self, request: ChangeRequest) -> Outcome:
        """Another click, instance or sweep moved the request first: say where it stands now."""
        latest = self.store.get_request(request.id) or request
        return Outcome(OutcomeKind.CLOSED, f"This request is already {describe_state(latest)}.", latest)

    def _may_decide(self, request: ChangeRequest, user: str) -> Outcome | None:
        """Approve and reject are judged under the rule of the request's own channel, wherever the click is."""
        if user == request.requester:
            self._record_request("refused", request, user, detail="own request")
            return Outcome(OutcomeKind.REFUSED, "Nobody approves or rejects their own request: another approver "
                                                "must. You can cancel it.", request)
        try:
            decision = self.access.decide(user, Action.APPROVE, request.organization, request.database,
                                          request.targets, request.channel)
        except DirectoryError as exc:
            decision = Decision(False, reason=explain(exc))
        if not decision.allowed:
            self._record_request("refused", request, user, detail=decision.reason)
            return Outcome(OutcomeKind.REFUSED, decision.reason, request)
        return None

    def guardrails_demand(self, organization: str, database: str, before: Mapping[str, Any],
                          after: Mapping[str, Any], reason: str | None) -> Demand:
        """The guardrails as they are now, on a change from `before` to `after`: asked and applied alike."""
        verdict = judge(self.access.rules.guardrails, organization, database, before, after)
        return demand(verdict, reason)

    def _judge_approvals(self, request: ChangeRequest, targets: Sequence[str], policy: Mapping[str, Any],
                         approved_by: Sequence[str] | None = None) -> _Judgement:
        """The request under the rules and guardrails as they are now, on `policy` (the policy as it is, or as
        requested): the requester may still make it, how many approvals are needed, and which of those given
        (`approved_by`, when just read) still count."""
        try:
            decision = self.access.decide(request.requester, Action.CHANGE, request.organization, request.database,
                                          targets, request.channel)
        except DirectoryError as exc:
            return _Judgement(unchecked=f"the requester's access could not be checked just now ({exc})")
        if not decision.allowed:
            return _Judgement(refusal=f"under the access rules as they are now, <@{request.requester}> may no longer "
                                      f"make this change: {decision.reason}")
        after = {**policy, **request.changes}
        guarded = self.guardrails_demand(request.organization, request.database, policy, after, request.reason)
        if guarded.refusal:
            return _Judgement(refusal=f"under the guardrails as they are now, {guarded.refusal}")
        counted: list[str] = []
        not_counted: list[str] = []
        for approver in self.store.approvers_of(request.id) if approved_by is None else approved_by:
            try:
                allowed = approver != request.requester and self.access.decide(
                    approver, Action.APPROVE, request.organization, request.database, targets,
                    request.channel).allowed
            except DirectoryError as exc:
                return _Judgement(unchecked=f"<@{approver}>'s approval could not be checked just now ({exc})")
            (counted if allowed else not_counted).append(approver)
        approvers = tuple(self.access.groups.resolve(p) for p in decision.approvers)
        needed = max(decision.approvals, guarded.approvals)
        if not decision.approvals_from:
            return _Judgement(needed, tuple(counted), tuple(not_counted), approvers)
        # Approvals from several groups: each approver fills at most one group's place.
        try:
            placed = assign(counted, decision.approvals_from, lambda a, g: self.access.groups.is_named(a, [g]))
        except DirectoryError as exc:
            return _Judgement(unchecked=f"the approvers' groups could not be checked just now ({exc})")
        return _Judgement(needed, tuple(counted), tuple(not_counted), approvers, groups=decision.approvals_from,
                          owed=tuple(missing(decision.approvals_from, placed)))

    def _still_waiting(self, request: ChangeRequest, judged: _Judgement, user: str,
                       message: str | None = None) -> Outcome:
        """Keep the request pending with what the rules now ask, and say how many approvals are missing."""
        changed = (judged.needed != request.approvals_needed or judged.not_counted
                   or dict(judged.groups) != (request.approvals_from or {}))
        detail = _waiting_detail(judged) if changed else None
        updated = self.store.transition(request.id, [RequestState.PENDING], RequestState.PENDING,
                                        approvals_needed=judged.needed, approvers=list(judged.approvers),
                                        approvals_from=dict(judged.groups) or None, detail=detail) or request
        owed = f" Still missing: {_owed_text(judged.owed)}." if judged.owed else ""
        return Outcome(OutcomeKind.COUNTED, message or f"Approved: {len(judged.counted)} of {judged.needed} "
                       f"approvals so far.{owed}", updated)

    def _close_pending(self, request: ChangeRequest, why: str) -> Outcome:
        closed = self.store.transition(request.id, [RequestState.PENDING], RequestState.FAILED, detail=why)
        if closed is None:
            return self._already(request)
        self._record_request("failed", closed, SYSTEM, detail=why)
        return Outcome(OutcomeKind.NO_LONGER_ALLOWED, f"Not applied: {why}. Nothing was sent.", closed)

    # --- applying ---------------------------------------------------------------------------------------

    def _apply(self, request: ChangeRequest, by: str, read: tuple[BackupPolicy, int] | None = None) -> Outcome:
        """approved → applying → applied, failed or back to pending, under the policy's lease."""
        with self.turns.turn(request.policy_key, CLAIM_WAIT_SECONDS) as my_turn:
            return self._apply_in_turn(request, by, read, my_turn)

    def _apply_in_turn(self, request: ChangeRequest, by: str, read: tuple[BackupPolicy, int] | None,
                       my_turn: bool) -> Outcome:
        claim = self._claim(request, [RequestState.APPROVED]) if my_turn else None
        if claim is None:
            latest = self.store.get_request(request.id) or request
            if latest.state is RequestState.APPROVED:
                return Outcome(OutcomeKind.QUEUED, "Approved. Another change to this policy is being applied right "
                                                   "now; this one is applied after it by the bot's sweep, which "
                                                   "judges it again then.", latest)
            return self._already(request)
        try:
            current = None
            if read is not None:
                # A read taken before the claim is as good as one under it if nobody claimed this database's
                # policies in between: the claim itself moved the generation on by one.
                policy, generation = read
                if claim.generation == generation + 1:
                    current = policy
            return self._apply_claimed(claim, by, current)
        finally:
            self.store.release(claim)  # unless the request's last step gave the lease back already

    def _claim(self, request: ChangeRequest, from_states: Sequence[RequestState]) -> Claim | None:
        """Claim the request and its policy's lease; while another change holds it, wait a little."""
        deadline = self.clock() + CLAIM_WAIT_SECONDS
        while True:
            claim = self.store.claim_for_applying(request, from_states, self.lease_seconds)
            if claim is not None:
                return claim
            latest = self.store.get_request(request.id)
            if latest is None or latest.state not in from_states or self.clock() >= deadline:
                return None
            self.pause(LEASE_POLL_SECONDS)

    def _apply_claimed(self, claim: Claim, by: str, current: BackupPolicy | None = None) -> Outcome:
        """Judge the claimed request against the policy as it is now (read again unless `current` is fresh)."""
        request = claim.request
        db = DatabaseRef(request.organization, request.database)
        if current is None:
            try:
                current = self.policies.find_policy(db, request.policy_id)
            except (PlanetScaleError, PolicyNotFound) as exc:
                return self._fail(request, by, "the policy could not be read again before applying: "
                                               f"{exc.user_message}", claim=claim)
        if current.target != request.before["target"]:
            return self._fail(request, by, f"the policy moved from {request.before['target']} to {current.target} "
                                           "in PlanetScale since the request, so the rules that judged it no "
                                           "longer apply. Nothing was sent; ask again.", OutcomeKind.CONFLICT,
                              claim)
        moved = {f: (request.before[f], current.field_value(f)) for f in request.changes
                 if current.field_value(f) != request.before[f]}
        if moved:
            what = ", ".join(f"{f} is now {now!r} (was {then!r} when requested)" for f, (then, now) in moved.items())
            return self._fail(request, by, f"the policy changed in PlanetScale since the request: {what}. Nothing "
                                           "was sent; ask again against the current values.", OutcomeKind.CONFLICT,
                              claim)
        update = PolicyUpdate(**request.changes)
        problems = check_change(current, update)
        if problems:
            why = "; ".join(p.message for p in problems)
            return self._fail(request, by, f"the change no longer holds against the policy as it is now: {why}. "
                                           "Nothing was sent.", OutcomeKind.INVALID, claim)
        judged = self._judge_approvals(request, [current.target, str(update.target or current.target)],
                                       current.model_dump())
        if judged.refusal:
            return self._fail(request, by, f"{judged.refusal}. Nothing was sent.", OutcomeKind.NO_LONGER_ALLOWED,
                              claim)
        if judged.unchecked or judged.missing:
            why = (f"{judged.unchecked}; approve again in a moment to apply it" if judged.unchecked
                   else _waiting_detail(judged))
            back = self.store.transition(request.id, [RequestState.APPLYING], RequestState.PENDING,
                                         approvals_from=dict(judged.groups) or (
                                             None if judged.needed else request.approvals_from),
                                         approvals_needed=judged.needed or request.approvals_needed,
                                         approvers=list(judged.approvers or request.approvers), detail=why,
                                         lease_until=0, record=request_event("waiting", request, SYSTEM, detail=why),
                                         release=claim) or request
            return Outcome(OutcomeKind.WAITING, f"Not applied yet, nothing was sent: {why}.", back)
        return self._send(claim, by, db, current, update)

    def _send(self, claim: Claim, by: str, db: DatabaseRef, current: BackupPolicy, update: PolicyUpdate) -> Outcome:
        request = claim.request
        attempt = AuditEvent(action="sending", actor=request.requester, organization=db.organization,
                             database=db.database, policy_id=current.id, policy_name=current.name,
                             before=current.model_dump(), sent=update.to_api(), reason=request.reason,
                             channel=request.channel, request_id=request.id,
                             detail=None if by == request.requester else f"approved by <@{by}>")
        # On the record before it leaves: a crash after the PATCH is still told. And the PATCH has a full lease
        # to run in: judging may have taken a while (pages of policies, role look-ups).
        if not self._hold(claim, record=attempt):
            return Outcome(OutcomeKind.CLOSED, "Nothing was sent: this change took too long to judge and the sweep "
                                               "took it over; it judges it again.", request)
        try:
            after = self.planetscale.update_policy(db.organization, db.database, current.id, update)
        except PlanetScaleError as exc:
            if exc.definite:
                failed = self.store.transition(request.id, [RequestState.APPLYING], RequestState.FAILED,
                                               record=replace(attempt, action="failed", detail=exc.user_message),
                                               release=claim, detail=exc.user_message, lease_until=0)
                return Outcome(OutcomeKind.FAILED, f"Not applied: {exc.user_message}", failed or request)
            # The PATCH may have landed although no answer said so: what PlanetScale holds now decides. That read
            # may be as slow as the PATCH was, and the lease was only sure to cover the PATCH.
            if not self._hold(claim):
                return Outcome(OutcomeKind.QUEUED, f"PlanetScale did not confirm the change ({exc.user_message}); "
                                                   "the bot's sweep checks it and the message will show the "
                                                   "result.", request)
            return self._settle(claim, by, exc.user_message)
        applied = after.model_dump()
        done = self.store.transition(request.id, [RequestState.APPLYING], RequestState.APPLIED,
                                     record=replace(attempt, action="applied", after=applied),
                                     release=claim, after=applied, lease_until=0)
        return Outcome(OutcomeKind.APPLIED, "Applied.", done or request, after=after)

    def _hold(self, claim: Claim, record: AuditEvent | None = None) -> bool:
        """Enough of the claim's lease left for the next PlanetScale call at its slowest and the read that may
        follow it, renewing it when not (a lease that still covers them cannot have been taken over, so it needs
        no renewing); `record` recorded either way. False (nothing recorded) when the lease was taken over.

        Twice the slowest call: a change judged quickly (within LEASE_MARGIN_SECONDS of its claim) keeps the
        whole slowest call's worth of lease after its PATCH, as much room for instances' clocks to disagree as
        renewing gave."""
        if claim.until - self.clock() >= 2 * self.planetscale.worst_case_seconds():
            if record is not None:
                self.store.record(record)
            return True
        return self.store.renew(claim, self.lease_seconds, record=record)

    def _settle(self, claim: Claim, by: str, why: str) -> Outcome:
        """After a PATCH whose outcome is unknown (or a crash): applied if PlanetScale now holds every value it
        sets, failed if it does not; when PlanetScale cannot be read either, the sweep asks again later."""
        request = claim.request
        db = DatabaseRef(request.organization, request.database)
        try:
            current = self.policies.find_policy(db, request.policy_id)
        except PolicyNotFound as exc:
            return self._fail(request, by, f"the policy is gone from PlanetScale: {exc.user_message}", claim=claim)
        except PlanetScaleError as exc:
            expired = self.clock() - request.created_at > self.access.rules.expire_after_seconds
            if expired:
                return self._fail(request, by, f"whether PlanetScale applied it could not be confirmed: "
                                               f"{exc.user_message}", claim=claim)
            # Left applying, its lease ended: the next sweep checks again.
            self.store.transition(request.id, [RequestState.APPLYING], RequestState.APPLYING, lease_until=0,
                                  detail=f"unconfirmed: {why}", release=claim)
            return Outcome(OutcomeKind.QUEUED, f"PlanetScale did not confirm the change ({why}) and cannot be read "
                                               "right now; the bot checks again shortly and the message will show "
                                               "the result.", request)
        if all(current.field_value(f) == v for f, v in request.changes.items()):
            after = current.model_dump()
            done = self.store.transition(
                request.id, [RequestState.APPLYING], RequestState.APPLIED, after=after, lease_until=0, release=claim,
                record=request_event("applied", request, by, after=after,
                                     detail=f"confirmed by reading the policy after: {why}"))
            return Outcome(OutcomeKind.APPLIED, "Applied (confirmed by reading the policy again).", done or request,
                           after=current)
        return self._fail(request, by, f"{why} PlanetScale does not hold the change, so it was not applied.",
                          claim=claim)

    def _fail(self, request: ChangeRequest, by: str, why: str, kind: OutcomeKind = OutcomeKind.FAILED,
              claim: Claim | None = None) -> Outcome:
        failed = self.store.transition(request.id, [RequestState.APPLYING], RequestState.FAILED, detail=why,
                                       lease_until=0, record=request_event("failed", request, by, detail=why),
                                       release=claim)
        return Outcome(kind, f"Not applied: {why}", failed or request)

    # --- keeping things moving --------------------------------------------------------------------------

    def expire_due(self) -> list[ChangeRequest]:
        """Expire pending requests past their time; several instances may run this at once."""
        expired = []
        for request in self.store.requests([RequestState.PENDING], expired_before=self.clock()):
            moved = self.store.transition(request.id, [RequestState.PENDING], RequestState.EXPIRED,
                                          detail="expired before enough approvals")
            if moved:
                self._record_request("expired", moved, SYSTEM)
                expired.append(moved)
        return expired

    def due_reminders(self) -> list[Outcome]:
        """Pending requests that reached a reminder moment of their life (`[approvals] remind`): each moment
        is claimed once in the database, so however many instances sweep, the approvers hear it once; when the
        sweep finds several due at once (it was stopped), one reminder says it."""
        now = self.clock()
        due = []
        for request in self.store.requests([RequestState.PENDING], limit=None):
            if request.expires_at <= now:
                continue
            moments = [m for m in self.access.rules.reminders
                       if request.created_at < reminder_at(m, request.created_at, request.expires_at) <= now]
            claimed = [m for m in moments if self.store.claim_notice(request.id, f"remind:{m}")]
            if claimed:
                due.append(Outcome(OutcomeKind.REMINDED, "A reminder is due.", request,
                                   notices=tuple(f"remind:{m}" for m in claimed)))
        return due

    def recover(self) -> list[Outcome]:
        """Finish requests a crash left behind: approved but never claimed, or applying past their lease (so the
        worker that claimed them is gone, or took longer than it may: its PATCH, if any, has ended)."""
        outcomes = []
        now = self.clock()
        for request in self.store.requests([RequestState.APPROVED], updated_before=now - APPROVED_STALE_SECONDS):
            outcomes.append(self._guarded(request, partial(self._apply, request, SYSTEM)))
        for request in self.store.requests([RequestState.APPLYING], lease_before=now):
            claim = self.store.claim_for_applying(request, [RequestState.APPLYING], self.lease_seconds)
            if claim is None:
                continue
            try:
                outcomes.append(self._guarded(request, partial(self._recover_applying, claim)))
            finally:
                self.store.release(claim)
        return outcomes

    def _guarded(self, request: ChangeRequest, step: Callable[[], Outcome]) -> Outcome:
        """One request's failure does not stop the sweep for the others."""
        try:
            return step()
        except Exception as exc:
            log.exception("the sweep could not finish request %s", request.id)
            return Outcome(OutcomeKind.FAILED, explain(exc), None)

    def _recover_applying(self, claim: Claim) -> Outcome:
        """A request left applying: if a PATCH was sent for it, PlanetScale's state says whether it landed; if
        none was, it is judged again and applied as any other."""
        request = claim.request
        sent = any(e.action == "sending" for e in self.store.events_of_request(request.id))
        if sent:
            return self._settle(claim, SYSTEM, "the bot stopped while PlanetScale was applying it.")
        return self._apply_claimed(claim, SYSTEM)

    # --- reading ----------------------------------------------------------------------------------------

    def pending_for(self, user: str) -> list[ChangeRequest]:
        """Open requests this user can act on: approve (as an approver, not the requester) or cancel (their own).
        Judged under each request's own channel rule, as a click on its buttons would be."""
        candidates = []  # in the order the store lists them, the oldest first
        now = self.clock()
        # All of them: past a page of the oldest, a person's own newer request would not be listed.
        for request in self.store.requests([RequestState.PENDING], limit=None):
            if request.expires_at <= now:
                continue
            try:
                if request.requester == user or self.access.decide(
                        user, Action.APPROVE, request.organization, request.database, request.targets,
                        request.channel).allowed:
                    candidates.append(request)
            except DirectoryError:
                continue
        approved = self.store.approvers_by_request([r.id for r in candidates if r.requester != user])
        return [r for r in candidates if r.requester == user or user not in approved[r.id]]


def _waiting_detail(judged: _Judgement) -> str:
    parts = [f"the access rules and guardrails now ask for {judged.needed} "
             f"approval{'s' if judged.needed != 1 else ''}; "
             f"{len(judged.counted)} count{'s' if len(judged.counted) == 1 else ''}, so {judged.missing} more "
             f"{'is' if judged.missing == 1 else 'are'} needed"]
    if judged.owed:
        parts.append(f"still missing: {_owed_text(judged.owed)}")
    if judged.not_counted:
        parts.append("no longer counted: " + ", ".join(f"<@{a}>" for a in judged.not_counted)
                     + " (the rules no longer let them approve)")
    return "; ".join(parts)


def _owed_text(owed: Sequence[tuple[str, int]]) -> str:
    """`1 from @security`: a group's handle is written as the rule writes it."""
    return ", ".join(f"{n} from {group}" for group, n in owed)


def group_progress(request: ChangeRequest, approved_by: Sequence[str],
                   member_of: Callable[[str, str], bool]) -> list[tuple[str, int, list[str]]]:
    """For showing a request: each group it asks approvals from, how many, and who counts for it so far."""
    wanted = list((request.approvals_from or {}).items())
    placed = assign([a for a in approved_by if a != request.requester], wanted, member_of)
    return [(group, count, [a for a, g in placed.items() if g == group]) for group, count in wanted]

"""A change request's life: pending → approved → applying → applied or failed; pending → rejected, cancelled
(by the requester) or expired. Every change goes this way, with 0 approvals needed or more, so every door
applies through one path and every step lands in the audit trail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.access import AccessControl, Action, Decision, DirectoryError
from bot.audit import AuditEvent
from bot.grammar import DatabaseRef
from bot.planetscale import PlanetScaleError
from bot.policy import (
    UNIT_HOURS,
    BackupPolicy,
    ChangeRejected,
    PolicyUpdate,
    check_change,
    describe_every,
    resulting_values,
)
from bot.service import AppliedChange, ChangePlan, PolicyNotFound, PolicyService
from bot.store import ChangeRequest, Store

log = logging.getLogger(__name__)
SYSTEM = "backup-bot"


@dataclass(frozen=True)
class Outcome:
    """What a step did. `message` is for the person who acted; `request` is the request as it now stands."""

    kind: str  # requested, applied, counted, refused, closed, conflict, failed, rejected, cancelled
    message: str
    request: ChangeRequest | None = None
    change: AppliedChange | None = None

    @property
    def changed_request(self) -> bool:
        return self.kind not in ("refused", "closed")


def hours(value: int, unit: str) -> int:
    return value * UNIT_HOURS.get(unit, 0)


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


class ApprovalService:
    def __init__(self, store: Store, policies: PolicyService, access: AccessControl,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.policies = policies
        self.access = access
        self.clock = clock

    def _record(self, action: str, request: ChangeRequest, actor: str, **extra: Any) -> None:
        self.store.record(AuditEvent(
            action=action, actor=actor, organization=request.organization, database=request.database,
            policy_id=request.policy_id, policy_name=request.policy_name, before=request.before,
            sent=request.changes, reason=request.reason, channel=request.channel, request_id=request.id, **extra))

    # --- asking ---------------------------------------------------------------------------------------

    def request_change(self, plan: ChangePlan, requester: str, channel: str, decision: Decision,
                       revert_of: str | None = None) -> Outcome:
        """Record the request; with no approvals needed it is applied at once, through the same path."""
        now = self.clock()
        request = self.store.add_request(ChangeRequest(
            organization=plan.db.organization, database=plan.db.database, policy_id=plan.before.id,
            policy_name=plan.before.name, requester=requester, channel=channel, reason=plan.reason,
            before=plan.before.model_dump(), changes=plan.update.to_api(), approvals_needed=decision.approvals,
            approvers=[self.access.groups.resolve(p) for p in decision.approvers],
            risks=risks_of(plan.before, plan.after_values),
            revert_of=revert_of, expires_at=now + self.access.rules.expire_after_seconds,
            created_at=now, updated_at=now))
        self._record("requested", request, requester,
                     detail=f"needs {request.approvals_needed} approval(s)" if request.approvals_needed else None)
        if request.approvals_needed == 0:
            approved = self.store.transition(request.id, ["pending"], "approved", decided_by=requester)
            assert approved is not None  # nobody else has seen this request yet
            # The policy was read a moment ago to plan this change: no need to read it again.
            return self._apply(approved, by=requester, current=plan.before)
        return Outcome("requested", "Your request is waiting for approval.", request)

    # --- deciding -------------------------------------------------------------------------------------

    def _open_request(self, request_id: str) -> ChangeRequest | Outcome:
        request = self.store.get_request(request_id)
        if request is None:
            return Outcome("refused", "That request does not exist (the button may not be from this bot).")
        if request.state == "pending" and request.expires_at <= self.clock():
            expired = self.store.transition(request.id, ["pending"], "expired")
            if expired:
                self._record("expired", expired, SYSTEM)
                return Outcome("closed", "This request has expired; nothing was done. Ask again if it is still "
                                         "needed.", expired)
            request = self.store.get_request(request_id) or request
        if request.state != "pending":
            return Outcome("closed", f"This request is already {describe_state(request)}; nothing more was done.",
                           request)
        return request

    def approve(self, request_id: str, user: str, channel: str) -> Outcome:
        found = self._open_request(request_id)
        if isinstance(found, Outcome):
            return found
        request = found
        refusal = self._may_decide(request, user, channel, Action.APPROVE)
        if refusal:
            return refusal
        approvers = self.store.add_approval(request.id, user)
        if approvers is None:
            return Outcome("refused", "You have already approved this request; each approver counts once.",
                           request)
        self._record("approved", request, user, detail=f"{len(approvers)} of {request.approvals_needed}")
        if len(approvers) < request.approvals_needed:
            current = self.store.get_request(request.id) or request
            return Outcome("counted", f"Approved: {len(approvers)} of {request.approvals_needed} approvals so far.",
                           current)
        approved = self.store.transition(request.id, ["pending"], "approved", decided_by=user)
        if approved is None:
            return self._already(request)
        return self._apply(approved, by=user)

    def reject(self, request_id: str, user: str, channel: str) -> Outcome:
        found = self._open_request(request_id)
        if isinstance(found, Outcome):
            return found
        refusal = self._may_decide(found, user, channel, Action.APPROVE)
        if refusal:
            return refusal
        return self._close(found, "rejected", user)

    def cancel(self, request_id: str, user: str) -> Outcome:
        found = self._open_request(request_id)
        if isinstance(found, Outcome):
            return found
        if user != found.requester:
            return Outcome("refused", f"Only the requester, <@{found.requester}>, can cancel this request.", found)
        return self._close(found, "cancelled", user)

    def _close(self, request: ChangeRequest, state: str, user: str) -> Outcome:
        """pending → rejected or cancelled, unless another click moved it first."""
        closed = self.store.transition(request.id, ["pending"], state, decided_by=user)
        if closed is None:
            return self._already(request)
        self._record(state, closed, user)
        return Outcome(state, f"{state.capitalize()}: nothing was sent to PlanetScale.", closed)

    def _already(self, request: ChangeRequest) -> Outcome:
        """Another click, instance or sweep moved the request first: say where it stands now."""
        latest = self.store.get_request(request.id) or request
        return Outcome("closed", f"This request is already {describe_state(latest)}.", latest)

    def _may_decide(self, request: ChangeRequest, user: str, channel: str, action: Action) -> Outcome | None:
        if user == request.requester:
            self._record("refused", request, user, detail="own request")
            return Outcome("refused", "Nobody approves or rejects their own request: another approver must. "
                                      "You can cancel it.", request)
        if channel != request.channel:
            self._record("refused", request, user, detail=f"clicked from {channel}, not {request.channel}")
            return Outcome("refused", f"This request belongs to <#{request.channel}>; decide it there.", request)
        try:
            decision = self.access.decide(user, action, request.organization, request.database,
                                          targets_of(request), request.channel)
        except DirectoryError as exc:
            decision = Decision(False, reason=f"Your access could not be checked, so nothing was done: {exc}.")
        if not decision.allowed:
            self._record("refused", request, user, detail=decision.reason)
            return Outcome("refused", decision.reason, request)
        return None

    # --- applying ---------------------------------------------------------------------------------------

    def _apply(self, request: ChangeRequest, by: str, current: BackupPolicy | None = None) -> Outcome:
        """approved → applying → applied or failed; never overwrites a change made since the request was made."""
        claimed = self.store.transition(request.id, ["approved"], "applying")
        if claimed is None:
            return self._already(request)
        return self._finish(claimed, by, current)

    def _finish(self, request: ChangeRequest, by: str, current: BackupPolicy | None = None) -> Outcome:
        """Apply a claimed request against `current`, the policy as just read; read it again when not given."""
        db = DatabaseRef(request.organization, request.database)
        if current is None:
            try:
                current = self.policies.find_policy(db, request.policy_id)
            except (PlanetScaleError, PolicyNotFound) as exc:
                return self._fail(request, by, f"the policy could not be read again before applying: "
                                               f"{exc.user_message}")
        moved = {f: (request.before[f], current.field_value(f)) for f in request.changes
                 if current.field_value(f) != request.before[f]}
        if moved:
            what = ", ".join(f"{f} is now {now!r} (was {then!r} when requested)" for f, (then, now) in moved.items())
            return self._fail(request, by, f"the policy changed in PlanetScale since the request: {what}. Nothing "
                                           "was sent; ask again against the current values.", kind="conflict")
        plan = ChangePlan(db, current, PolicyUpdate(**request.changes), request.reason)
        try:
            change = self.policies.apply(plan, actor=request.requester, channel=request.channel,
                                         request_id=request.id,
                                         detail=None if by == request.requester else f"approved by <@{by}>")
        except PlanetScaleError as exc:
            return self._fail(request, by, exc.user_message, record=False)
        applied = self.store.transition(request.id, ["applying"], "applied", after=change.after.model_dump())
        return Outcome("applied", "Applied.", applied or request, change)

    def _fail(self, request: ChangeRequest, by: str, why: str, kind: str = "failed",
              record: bool = True) -> Outcome:
        failed = self.store.transition(request.id, ["applying"], "failed", detail=why)
        if record:
            self._record("failed", request, by, detail=why)
        return Outcome(kind, f"Not applied: {why}", failed or request)

    # --- keeping things moving --------------------------------------------------------------------------

    def expire_due(self) -> list[ChangeRequest]:
        """Expire pending requests past their time; several instances may run this at once."""
        expired = []
        for request in self.store.requests(["pending"], expired_before=self.clock()):
            moved = self.store.transition(request.id, ["pending"], "expired")
            if moved:
                self._record("expired", moved, SYSTEM)
                expired.append(moved)
        return expired

    def recover(self, stale_after: float = 60.0) -> list[Outcome]:
        """Finish requests a crash left approved or applying, from the policy's actual state."""
        outcomes = []
        cutoff = self.clock() - stale_after
        for request in self.store.requests(["approved"], updated_before=cutoff):
            outcomes.append(self._apply(request, by=SYSTEM))
        for request in self.store.requests(["applying"], updated_before=cutoff):
            # Claim it: bumping updated_at keeps another instance's recovery off it for a while.
            claimed = self.store.transition(request.id, ["applying"], "applying")
            if claimed is None:
                continue
            outcomes.append(self._recover_applying(claimed))
        return outcomes

    def _recover_applying(self, request: ChangeRequest) -> Outcome:
        db = DatabaseRef(request.organization, request.database)
        try:
            current = self.policies.find_policy(db, request.policy_id)
        except (PlanetScaleError, PolicyNotFound) as exc:
            return Outcome("failed", f"Recovery could not read the policy: {exc.user_message}", request)
        if all(current.field_value(f) == v for f, v in request.changes.items()):
            applied = self.store.transition(request.id, ["applying"], "applied", after=current.model_dump())
            self._record("applied", request, request.requester, after=current.model_dump(),
                         detail="found applied after a restart")
            return Outcome("applied", "Applied (found so after a restart).", applied or request)
        return self._finish(request, SYSTEM)

    # --- reading ----------------------------------------------------------------------------------------

    def revert_plan(self, request_id: str) -> tuple[ChangeRequest, ChangePlan] | Outcome:
        """The inverse of an applied change, checked against the policy as it is now."""
        request = self.store.get_request(request_id)
        if request is None or request.state != "applied":
            return Outcome("refused", "Only an applied change can be reverted, and this one is not.", request)
        db = DatabaseRef(request.organization, request.database)
        current = self.policies.find_policy(db, request.policy_id)
        inverse = PolicyUpdate(**{f: request.before[f] for f in request.changes})
        problems = check_change(current, inverse)
        if problems:
            raise ChangeRejected(problems)
        reason = f"revert of the change requested by <@{request.requester}>"
        return request, ChangePlan(db, current, inverse, reason)

    def pending_for(self, user: str) -> list[ChangeRequest]:
        """Open requests this user can act on: approve (as an approver, not the requester) or cancel (their own)."""
        mine = []
        for request in self.store.requests(["pending"]):
            if request.expires_at <= self.clock():
                continue
            if request.requester == user:
                mine.append(request)
                continue
            try:
                if self.access.decide(user, Action.APPROVE, request.organization, request.database,
                                      targets_of(request), request.channel).allowed \
                        and user not in self.store.approvers_of(request.id):
                    mine.append(request)
            except DirectoryError:
                continue
        return mine


def targets_of(request: ChangeRequest) -> list[str]:
    """The targets a request touches: the policy's, and the new one for a move; each is judged by its rule."""
    return [request.before["target"], request.changes.get("target", request.before["target"])]


def describe_state(request: ChangeRequest) -> str:
    by = f" by <@{request.decided_by}>" if request.decided_by and request.state in ("rejected", "cancelled") else ""
    return {"pending": "waiting for approval", "approved": "approved and about to be applied",
            "applying": "being applied", "applied": "applied", "failed": "failed",
            "rejected": f"rejected{by}", "cancelled": f"cancelled{by}", "expired": "expired"}.get(request.state,
                                                                                               request.state)


def after_values(request: ChangeRequest) -> dict[str, Any]:
    return resulting_values(BackupPolicy.model_validate(request.before), PolicyUpdate(**request.changes))

"""The doors of the change path: command, modal, buttons, revert (bot/domain/reverting.py), sweep. Each
translates what a person did into a snapshot for the judge (bot/domain/judge.py) and acts on its verdict through
the lifecycle (bot/domain/lifecycle.py), applying under the policy's lease (bot/domain/applying.py):

- asking: may this person see the database (before anything is read); then the judge, on the policy as just
  read: refused (with the reason), a dry run shown, a request waiting for approvals, or one applied at once,
  always on the policy read again under its lease;
- deciding: the clicker may approve or reject under the request's own channel rule (never their own request);
  the judge counts the approvals that still count, on the request as asked;
- applying: the judge again, on the policy as read under the lease; only its `apply` sends anything.

The handlers only translate a payload into a call here and an `Outcome` into Slack.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from bot.domain.access import AccessControl
from bot.domain.access_rules import AccessRules, Action
from bot.domain.applying import QUEUED_BEHIND
from bot.domain.audit import AuditEvent
from bot.domain.backup_health import read_facts
from bot.domain.backups import Branch
from bot.domain.change_requests import (
    CLOSED_STATES,
    ChangeKind,
    ChangeRequest,
    Expiry,
    RequestState,
    derived_id,
    redone_id,
)
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.group_directory import DirectoryError
from bot.domain.judge import Asked, Refusal, Snapshot, Stage, Unchecked, VerdictKind, counted
from bot.domain.lifecycle import (
    APPROVED_STALE_SECONDS,
    CLAIM_WAIT_SECONDS,
    LEASE_MARGIN_SECONDS,
    LEASE_POLL_SECONDS,
    PolicyTurns,
    skipped,
)
from bot.domain.naming import outside
from bot.domain.outcomes import (
    ENDED_AS,
    REQUEST_MOVED,
    SYSTEM,
    ChangePlan,
    Outcome,
    OutcomeKind,
    after_values,
    describe_state,
    explain,
    group_progress,
    last_of_target,
    lifecycle_risks,
    request_event,
    risks_of,
    stored_policy,
    unknown_button,
)
from bot.domain.pending import PendingPage, pending_for, reminders_due
from bot.domain.policy import EDITABLE_FIELDS, BackupPolicy, ChangeRejected, PolicyUpdate, resulting_values
from bot.domain.ports import ChangeStore, Claim, Fork, PlanetScaleApi, PlanetScaleError, in_line, unwatched, waits_told
from bot.domain.read_gate import Lookup, as_told, readable_targets
from bot.domain.reading import PolicyNotFound, PolicyService
from bot.domain.recovering import Recovering
from bot.domain.reverting import Reverting

__all__ = ["APPROVED_STALE_SECONDS", "CLAIM_WAIT_SECONDS", "LEASE_MARGIN_SECONDS", "LEASE_POLL_SECONDS",
           "REQUEST_MOVED", "SYSTEM", "ChangePath", "ChangePlan", "Outcome", "OutcomeKind", "PolicyTurns",
           "after_values", "describe_state", "explain", "group_progress", "risks_of", "unknown_button"]

log = logging.getLogger(__name__)


class ChangePath(Reverting, Recovering):
    def __init__(self, store: ChangeStore, policies: PolicyService, planetscale: PlanetScaleApi,
                 access: AccessControl, clock: Callable[[], float] = time.time,
                 pause: Callable[[float], None] = time.sleep, fork: Fork = in_line,
                 claim_wait: float = CLAIM_WAIT_SECONDS):
        self.store, self.fork, self.turns = store, fork, PolicyTurns()
        self.policies, self.planetscale, self.access = policies, planetscale, access
        self.clock, self.pause, self.claim_wait = clock, pause, claim_wait
        self._reverting = threading.Lock()

    # --- the audit trail ------------------------------------------------------------------------------

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
        nothing is sent and the outcome carries the policy as it is now.

        Unless it is a dry run, the policy's lease is taken first and the policy read once under it: a change
        that needs no approval is asked and applied at one moment, judged on that one read, and sent before the
        lease is given back. One that needs approvals is stored pending, read again under its lease to apply."""
        ref = expected.id if expected else ref
        earlier = redone_id()
        stored = self.store.get_request(earlier) if earlier is not None and not dry_run else None
        if stored is not None:
            # This work's first run stored it and stopped before posting it: shown as it stands, never answered
            # from a read of a policy that may have moved since.
            return self._stored_before(stored)
        visible = self._readable(user, channel, db)  # before any lease is taken: nothing for one who may not see
        if isinstance(visible, Outcome):
            return visible
        # The database's branches (for the storage estimate) depend on nothing the policy's read finds: read from
        # before the lease, their waits told under it when waited for there.
        branches = waits_told(self.fork, partial(self.policies.planetscale.list_branches, db.organization,
                                                 db.database))
        if not dry_run:
            for _ in range(2):
                asked = self._ask_leased(user, channel, db, ref, update, reason, expected, visible, branches)
                if isinstance(asked, Outcome):
                    return asked
                if asked is None:
                    break
                ref = asked  # a name was asked: its policy's ID, to be read under that policy's lease
        # A dry run, or another change holds the policy: judged on a read without its lease, and one that needs
        # no approval is left to the sweep, which reads it again under the lease.
        asked = self._ask(user, channel, db, ref, update, reason, expected, visible, branches, dry_run=dry_run,
                          busy=not dry_run, redirect=not dry_run)
        if isinstance(asked, str):
            # The lease found held was the ref's as asked, not its policy's (an ID that is gone while another
            # policy is named so): the policy's own lease is tried once before saying another change holds it.
            ref = asked
            asked = self._ask_leased(user, channel, db, ref, update, reason, expected, visible, branches)
            if not isinstance(asked, Outcome):
                asked = self._ask(user, channel, db, ref, update, reason, expected, visible, branches, busy=True)
        assert isinstance(asked, Outcome)  # only a read under a lease can find it is not that policy's
        return asked

    def _ask_leased(self, user: str, channel: str, db: DatabaseRef, ref: str, update: PolicyUpdate,
                    reason: str | None, expected: BackupPolicy | None, visible: set[str],
                    branches: Callable[[], list[Branch]]) -> Outcome | str | None:
        """The change asked under the lease of `ref` as asked: None when another change holds it; the policy's
        ID when `ref` is not it (a name was asked)."""
        asking = ChangeRequest(db.organization, db.database, ref, "", user, channel, {}, update.to_api(), 0,
                               [], 0.0, id=redone_id() or str(uuid.uuid4()))
        with self.turns.turn(asking.policy_key, self.claim_wait) as my_turn:
            claim = self._claim_to_ask(asking) if my_turn else None
            if claim is None:
                return None
            with self._working(claim):
                claim.reading()  # read first thing: what waited before is before the read
                return self._ask(user, channel, db, ref, update, reason, expected, visible, branches, claim=claim)

    def _claim_to_ask(self, asking: ChangeRequest) -> Claim | None:
        """The lease of the policy a change is asked on, before it is read; while another change holds it, wait
        a little (None at once when one waits for the sweep to settle it)."""
        claim = self.store.claim_for_applying(asking, (), self.lease_seconds)
        if claim is not None or self._unsettled(asking):
            return claim
        deadline = self.clock() + self.claim_wait
        while self.clock() < deadline:
            self.pause(LEASE_POLL_SECONDS)
            claim = self.store.claim_for_applying(asking, (), self.lease_seconds)
            if claim is not None:
                return claim
        return None

    def _ask(self, user: str, channel: str, db: DatabaseRef, ref: str, update: PolicyUpdate, reason: str | None,
             expected: BackupPolicy | None, visible: set[str], branches: Callable[[], list[Branch]],
             dry_run: bool = False, claim: Claim | None = None, busy: bool = False,
             redirect: bool = False) -> Outcome | str:
        """The change judged on the policy as read now (under `claim`'s lease, when given); the policy's ID when
        the lease taken is not that policy's (a name was asked). `branches`: waits for the database's branches."""
        found = self._read_for_change(user, channel, db, ref, visible, by_id=expected is not None)
        if isinstance(found, Outcome):
            return found
        current, listed = found
        if claim is not None:
            claim.read(self.clock())
        if (claim is not None and claim.request.policy_id != current.id) or (redirect and ref != current.id):
            # Under the database's lease too: the lease's own checks of what else applies on the policy look for
            # it by its ID, never by the name it was asked by.
            return current.id
        told = partial(as_told, self.access, self.policies, user, channel, Lookup(db, ref, visible, listed), current)
        if expected is not None:
            moved = [f for f in EDITABLE_FIELDS if current.field_value(f) != expected.field_value(f)]
            if moved:
                return told(Outcome(OutcomeKind.STALE_FORM, "The policy changed in PlanetScale after you opened "
                                    "the form, so nothing was sent.", current=current))
        target = resulting_values(current, update)["target"]
        # The branches waited for here, never by a read on the fork's workers: none of those waits on another.
        read = partial(read_facts, self.policies.planetscale, db, listed, current, target,
                       branches_read=in_line(branches))
        rules = self.access.rules  # one read decides which facts the judge needs and judges on them
        if claim is not None and not self.storage_bounded(db.organization, db.database, [target], rules):
            # No storage bound to judge: the estimate's basis is only shown, so it is read beside the judging and
            # the send (its waits hold neither up), and completes the request's facts once it lands.
            facts, later = read_facts(self.policies.planetscale, db, listed, None, None), self.fork(unwatched(read))
        else:
            facts, later = read(), None
        # Judged under the lease as any change; only what the asker is told hides a policy they may read nowhere.
        return told(self._request(user, channel, ChangePlan(db, current, update, reason, facts=facts),
                                  dry_run=dry_run, claim=claim, busy=busy, rules=rules, later=later))

    def _facts_of(self, db: DatabaseRef, current: BackupPolicy, target: str) -> DatabaseFacts | None:
        """The database's policies and the estimate's basis for a change to `current` (None if unreadable: the
        change is then judged without the bounds that need them, and again when it applies)."""
        try:
            listed = self.policies.list_policies(db)
        except PlanetScaleError:
            return None
        return read_facts(self.policies.planetscale, db, listed, current, target)

    def prepare_edit(self, user: str, channel: str, db: DatabaseRef, ref: str, by_id: bool = False) -> Outcome:
        """Before a form is filled with a policy: may this person change it, as it is now? READY carries it.
        `by_id`: `ref` is the bot's own record of the policy's ID (an Edit button), never a name."""
        visible = self._readable(user, channel, db)
        found = visible if isinstance(visible, Outcome) else \
            self._read_for_change(user, channel, db, ref, visible, by_id=by_id)
        if isinstance(found, Outcome):
            return found
        current, listed = found
        assert not isinstance(visible, Outcome)
        told = partial(as_told, self.access, self.policies, user, channel, Lookup(db, ref, visible, listed), current)
        decision = self.access.decided(user, Action.CHANGE, db.organization, db.database, [current.target], channel)
        if not decision.allowed:
            return told(self._refuse(user, db, channel, decision.reason, current))
        if not current.sendable:  # a form whose every change the judge refuses would waste the person's time
            return told(Outcome(OutcomeKind.INVALID, f"Its ID “{outside(current.id[:64])}” is not one PlanetScale's "
                                "paths can hold, so the bot cannot send any change to it. Nothing was changed."))
        # What the form's preview estimates the policy's storage from.
        facts = read_facts(self.policies.planetscale, db, listed, current, current.target)
        return Outcome(OutcomeKind.READY, "", current=current, approvals=decision.approvals, facts=facts)

    def _read_for_change(self, user: str, channel: str, db: DatabaseRef, ref: str, visible: set[str] | None = None,
                         by_id: bool = False) -> tuple[BackupPolicy, list[BackupPolicy]] | Outcome:
        """The policy as it is now, and the database's policies it was found among; nothing is read for someone
        no rule for this database names here. `visible`: the targets they may read, when looked up already.
        `by_id`: `ref` is the bot's own record of an ID (a form's policy, an Edit button), found among the policies
        of that ID alone: another named as that ID in the dashboard makes only a typed reference ambiguous."""
        seen = self._readable(user, channel, db) if visible is None else visible
        if isinstance(seen, Outcome):
            return seen
        try:
            listed = self.policies.list_policies(db)
            among = [p for p in listed if p.id == ref] if by_id else listed
            return self.policies.find_policy(db, ref, seen, listed=among), listed
        except PolicyNotFound as exc:
            return Outcome(OutcomeKind.NOT_FOUND, exc.user_message)
        except PlanetScaleError as exc:
            return self._failed_read(user, db, channel, "reading the policy to change it", exc)

    def _readable(self, user: str, channel: str, db: DatabaseRef) -> set[str] | Outcome:
        """The targets this person may read in the database, or the refusal when no rule for it names them here."""
        try:
            seen = self.access.may_see_database(user, db.organization, db.database, channel)
        except DirectoryError as exc:
            return self._refuse(user, db, channel, explain(exc))
        if not seen.allowed:
            return self._refuse(user, db, channel, seen.reason)
        return readable_targets(self.access, user, channel, db)  # one Slack's groups leave unchecked: hidden

    def _request(self, user: str, channel: str, plan: ChangePlan, dry_run: bool = False,
                 revert_of: str | None = None, reference: str | None = None, claim: Claim | None = None,
                 busy: bool = False, rules: AccessRules | None = None,
                 later: Callable[[], DatabaseFacts] | None = None) -> Outcome:
        """`reference` is the request a refusal's audit entry is about (the change a revert reverts). `claim`:
        the policy's lease the plan was read under; `busy`: another change held it, so one that needs no
        approval is left to the sweep. `rules`: as read to gather the plan's facts; `later`: waits for the
        facts with the estimate's basis, when the plan's lack it (no storage bound needs it to judge)."""
        request_id = derived_id()
        stored = self.store.get_request(request_id) if request_id is not None else None
        if stored is not None:  # this work's first run stored it, and stopped before posting it
            return self._stored_before(stored)
        db, current = plan.db, plan.before
        asked = Asked(db.organization, db.database, user, channel, current.model_dump(), plan.update.to_api(),
                      plan.reason, plan.reason_by_person, plan.kind)
        rules = rules or self.access.rules
        verdict = self._judge(Stage.ASKING, current, asked, (), plan.facts, rules)
        if verdict.kind is VerdictKind.CANNOT_TELL:
            return self._refuse(user, db, channel, verdict.reason, current, plan.update, reference)
        if verdict.kind is VerdictKind.REFUSE:
            if verdict.refusal is Refusal.INVALID:
                return Outcome(OutcomeKind.INVALID, explain(ChangeRejected(list(verdict.problems))),
                               problems=verdict.problems)
            reason = (verdict.reason if verdict.refusal is Refusal.NOT_ALLOWED
                      else f"Nothing was sent: {verdict.reason}.")
            return replace(self._refuse(user, db, channel, reason, current, plan.update, reference),
                           demand=verdict.demand)
        needed = verdict.needed
        if dry_run:
            self.store.record(AuditEvent(
                action="dry_run", actor=user, organization=db.organization, database=db.database,
                policy_id=current.id or None, policy_name=current.name, before=current.model_dump(),
                sent=plan.update.to_api(), reason=plan.reason, channel=channel,
                detail=None if plan.kind is ChangeKind.UPDATE else f"{plan.kind.value} a policy"))
            return Outcome(OutcomeKind.PREVIEWED, "Dry run: nothing was sent.", plan=plan, approvals=needed,
                           guardrails=verdict.guardrails)
        held = claim is not None and not needed
        if later is not None and not held:  # stored to be shown before it is sent: with its estimate
            plan = replace(plan, facts=later())
        now = self.clock()
        # A change that needs no approval is approved by its asking: stored approved, with its audit entry, and
        # judged again on the policy as read under its lease. Read under it already, asking and applying are one
        # moment on one read: stored applying under that lease, and sent.
        request = ChangeRequest(
            organization=db.organization, database=db.database, policy_id=current.id, policy_name=current.name,
            requester=user, channel=channel, reason=plan.reason, before=current.model_dump(),
            changes=plan.update.to_api(), approvals_needed=needed, approvals_from=dict(verdict.groups) or None,
            approvers=self._approvers_shown(verdict), risks=(risks_of(current, plan.after_values)
                                                             if plan.kind is ChangeKind.UPDATE
                                                             else lifecycle_risks(plan.kind, current))
            + last_of_target(current, None if plan.kind is ChangeKind.DELETE else plan.after_values["target"],
                             plan.facts, db.database) + list(verdict.overridden), revert_of=revert_of,
            reason_by_person=plan.reason_by_person,
            expires_at=now + self.access.rules.expire_after_seconds, created_at=now, updated_at=now,
            state=RequestState.PENDING if needed else RequestState.APPLYING if held else RequestState.APPROVED,
            decided_by=None if needed else user, kind=plan.kind, facts=plan.facts.to_json() if plan.facts else None,
            id=request_id or str(uuid.uuid4()))
        if held and claim is not None:
            # The lease was taken for the request being asked: under this work, it took the same derived ID.
            request.id, request.lease_until = claim.request.id, claim.until
        stored = self.store.add_request(request, record=request_event(
            "requested", request, user, detail=f"needs {needed} approval(s)" if needed else None))
        if stored.id != request.id:  # another instance asked this revert first
            return self._asked_already(stored)
        if stored is not request:
            # Another run of this work (redone while this one stalled) stored it first: that one stands, and
            # nothing is sent under a request this run did not store.
            return self._stored_before(stored)
        if request.approvals_needed:
            return Outcome(OutcomeKind.REQUESTED, "Your request is waiting for approval.", request,
                           approvals=request.approvals_needed)
        if held and claim is not None:
            claim.request, claim.rules = stored, rules
            return self._send(claim, user, db, current, plan.update, later)
        if busy:
            return Outcome(OutcomeKind.QUEUED, QUEUED_BEHIND, stored)
        return self._apply(request, by=user)

    def _stored_before(self, stored: ChangeRequest) -> Outcome:
        """A request found stored by an earlier run of the same work: shown now if it never was (pending, with no
        message), otherwise where it stands. Not judged again: it was judged when asked, and is when it applies."""
        if stored.state is RequestState.PENDING and stored.message_ts is None:
            return Outcome(OutcomeKind.REQUESTED, "Your request is waiting for approval.", stored,
                           approvals=stored.approvals_needed)
        return self._already(stored)

    # --- keeping things moving --------------------------------------------------------------------------

    def expire_due(self) -> list[ChangeRequest]:
        """Expire pending requests past their time; several instances may run this at once."""
        expired = []
        for request in self.store.requests([RequestState.PENDING], expired_before=self.clock(), unheld=True):
            why = Expiry.when_due(request)
            try:  # one row the database cannot write now (locked by another session past the lock timeout)
                moved = self._move(request.id, [RequestState.PENDING], RequestState.EXPIRED, detail=why,
                                   record=request_event("expired", request, SYSTEM, detail=why))
            except Exception as exc:
                skipped(log, self.store.row_held(exc), f"the sweep could not expire request {request.id}")
                continue
            if moved:
                expired.append(moved)
        return expired

    def untold(self) -> list[Outcome]:
        """Closed requests whose end Slack has not taken everywhere it is owed, each as the step that ended it, to
        be told again; taken by chance, so that many owed to a channel refusing them all hold back no other."""
        return [Outcome(ENDED_AS[r.state], f"This request is {describe_state(r)}.", r)
                for r in self.store.requests(CLOSED_STATES, told=False, shuffled=True, unheld=True)]

    def due_reminders(self) -> list[Outcome]:
        """Pending requests that reached a reminder moment of their life (`[approvals] remind`): each moment
        is claimed once in the database, so however many instances sweep, the approvers hear it once; when the
        sweep finds several due at once (it was stopped), one reminder says it."""
        due = []
        for request, moments in reminders_due(self.store, self.access.rules.reminders, self.clock()):
            try:
                claimed = [m for m in moments if self.store.claim_notice(request.id, f"remind:{m}")]
            except Exception as exc:
                skipped(log, self.store.row_held(exc), f"the sweep could not claim a reminder of request {request.id}")
                continue
            if claimed:
                due.append(Outcome(OutcomeKind.REMINDED, "A reminder is due.", request,
                                   notices=tuple(f"remind:{m}" for m in claimed)))
        return due

    # --- reading ----------------------------------------------------------------------------------------

    def counted_approvers(self, request: ChangeRequest, approved_by: Sequence[str] | None = None) -> list[str]:
        """The approvals of a pending request that still count under the rules as they are (all of them while
        who may approve cannot be checked), and of a decided one those the judge counted when it decided (all of
        them for one decided before those were kept). `approved_by`: its approvals, when the caller has them."""
        approved_by = self.store.approvers_of(request.id) if approved_by is None else list(approved_by)
        before = stored_policy(request)
        if request.state is not RequestState.PENDING or not approved_by or before is None:
            return approved_by if request.counted is None else list(request.counted)
        rules = self.access.rules
        facts = self._facts(rules, request.organization, request.database, [], approved_by)
        found = counted(Snapshot(Stage.APPROVING, rules, before, Asked.of(request), tuple(approved_by), facts))
        return approved_by if isinstance(found, Unchecked) else list(found)

    def pending_for(self, user: str, limit: int) -> PendingPage:
        """Open requests this user can act on: approve (as an approver, not the requester) or cancel (their own),
        the oldest `limit` of each. Judged under each request's own channel rule, as a click would be."""
        return pending_for(self.store, self.access, user, self.clock(), limit)



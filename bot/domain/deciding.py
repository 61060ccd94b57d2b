"""Deciding on a request: approve, reject and cancel. The clicker may approve or reject under the request's own
channel rule (never their own request); the judge counts the approvals that still count, on the request as asked,
and an approval that completes the count applies the change (bot/domain/applying.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from bot.domain.access_rules import AccessRules, Action
from bot.domain.applying import Applying
from bot.domain.backup_health import read_again
from bot.domain.bulk_costs import SharedReads, bulk_facts
from bot.domain.change_requests import ChangeKind, ChangeRequest, Expiry, RequestState, work_taken_over
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.guardrails import Demand, demand, judge
from bot.domain.judge import Asked, Refusal, Stage, Verdict, VerdictKind
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS, JUDGED_PER_SWEEP
from bot.domain.naming import outside, person
from bot.domain.outcomes import (
    NOBODY_LEFT,
    NOBODY_LEFT_SAID,
    POLICY_DAMAGED,
    SYSTEM,
    WHAT_KIND,
    Outcome,
    OutcomeKind,
    approval_kept,
    describe_state,
    nobody_left_detail,
    owed_text,
    request_event,
    unknown_button,
    waiting_detail,
)
from bot.domain.policy import EDITABLE_FIELDS, BackupPolicy
from bot.domain.ports import PlanetScaleError
from bot.domain.reading import PolicyNotFound


class Deciding(Applying):
    def _record_request(self, action: str, request: ChangeRequest, actor: str, **extra: Any) -> None:
        self.store.record(request_event(action, request, actor, **extra))


    def _open_request(self, request_id: str, user: str, button: str) -> ChangeRequest | Outcome:
        request = self.store.get_request(request_id)
        if request is None:
            self.store.record(unknown_button(user, None, button, request_id))
            return Outcome(OutcomeKind.REFUSED, "That request does not exist (the button may not be from this bot).")
        if request.state is RequestState.PENDING and request.expires_at <= self.clock():
            why = Expiry.when_due(request)
            expired = self._move(request.id, [RequestState.PENDING], RequestState.EXPIRED, detail=why,
                                 record=request_event("expired", request, SYSTEM, detail=why))
            if expired:
                return Outcome(OutcomeKind.EXPIRED, "This request has expired; nothing was done. Ask again if it "
                                                    "is still needed.", expired)
            request = self.store.get_request(request_id) or request
        if request.state is not RequestState.PENDING:
            return Outcome(OutcomeKind.CLOSED, f"This request is already {describe_state(request)}; nothing more "
                                               "was done.", request)
        if button != "Cancel" and self._asked_on(request) is None:  # nothing to judge, whoever clicks: ended
            return self._close_pending(request, POLICY_DAMAGED, OutcomeKind.INVALID)
        return request

    def approve(self, request_id: str, user: str) -> Outcome:
        found = self._open_request(request_id, user, "Approve")
        if isinstance(found, Outcome):
            return found
        request = found
        refusal = self._may_decide(request, user)
        if refusal:
            return self._refused_whoever_approves(request) or refusal
        added = self.store.add_approval(request.id, user, record=request_event("approved", request, user))
        if added == []:  # closed, or its life ended, between the look and the approval
            found = self._open_request(request.id, user, "Approve")
            return found if isinstance(found, Outcome) else self._already(request)
        with approval_kept(f"the {WHAT_KIND[request.kind]} the backup policy “{outside(request.policy_name)}” of "
                           f"{request.organization}/{request.database}"):
            approved_by = self.store.approvers_of(request.id) if added is None else added
            before = BackupPolicy.model_validate(request.before)
            # One reading of the rules decides both which facts are gathered and the verdict on them, as applying does.
            rules = self.access.rules
            verdict = self._on_the_policy_now(request, approved_by, rules, self._judge(
                Stage.APPROVING, before, Asked.of(request), approved_by, self._approving_facts(request, rules), rules))
            if verdict.kind is VerdictKind.CANNOT_TELL:
                self.store.judge_later(request.id, self.clock())  # as it says: judged again at the next sweep
                outcome = Outcome(OutcomeKind.REFUSED, f"Nothing was sent: {verdict.reason}. Your approval is "
                                                       "recorded; the bot judges it again shortly, or click Approve "
                                                       "again in a moment to apply the change.", request)
            elif verdict.kind is VerdictKind.WAIT:
                # Recorded already by this very click, when its work is taken over from an instance that stopped.
                twice = added is None and not work_taken_over()
                outcome = self._still_waiting(request, verdict, len(approved_by), "You have already approved this "
                                              "request; each approver counts once." if twice else None)
            else:
                outcome = self._approved(request, verdict, user, approved_by)
        # Approvals are only ever added: those just read are the request's, whatever the step did after.
        return replace(outcome, approved_by=tuple(approved_by)) if outcome.request is not None else outcome

    def _approving_facts(self, request: ChangeRequest, rules: AccessRules) -> DatabaseFacts | None:
        before = BackupPolicy.model_validate(request.before)
        return self.approving_facts(DatabaseRef(request.organization, request.database), request.kind, before,
                                    str(request.changes.get("target", before.target)), DatabaseFacts.of(request.facts),
                                    rules)

    def approving_facts(self, db: DatabaseRef, kind: ChangeKind, before: BackupPolicy, target: str,
                        facts: DatabaseFacts | None, rules: AccessRules,
                        shared: SharedReads | None = None,
                        ahead: Sequence[BackupPolicy] = ()) -> DatabaseFacts | None:
        """What an approval of a change of `before` (landing on `target`) is judged on, under `rules` as the judge
        reads them: the facts kept with it, read again where a bound covers it, as applying does (a bound added
        since is never judged on what was read when asked): its backups under a storage bound, the database's
        policies under a floor of the target it leaves. `shared`: a bulk approval's reads, one per database for
        all its policies; `ahead`: the bulk change's policies of the database applied before this one, as they
        would be after it (a floor counts them there, as asking did and as applying finds them)."""
        if facts is not None and kind is not ChangeKind.DELETE and \
                self.storage_bounded(db.organization, db.database, [target], rules):
            if shared is None or kind is ChangeKind.CREATE:
                facts = read_again(self.policies.planetscale, db, facts,
                                   None if kind is ChangeKind.CREATE else before, target)
            else:
                fresh = bulk_facts(shared.bases, self.policies.planetscale, db, [], before, target, shared.reads)
                facts = DatabaseFacts(facts.policies, fresh.before, fresh.after, fresh.unread)
        leaves = kind is ChangeKind.DELETE or (kind is ChangeKind.UPDATE and target != before.target)
        if facts is not None and leaves and any(g.min_policies is not None and g.covers(db.organization, db.database,
                                                                                        before.target)
                                                for g in rules.guardrails):
            try:
                listed = self.policies.list_policies(db) if shared is None else \
                    shared.policies(db.database, partial(self.policies.list_policies, db))
                moved = {p.id: p for p in ahead}
                facts = facts.with_policies([(p.id, p.name, p.target) for p in (moved.get(q.id, q) for q in listed)])
            except PlanetScaleError as exc:  # the judge cannot tell: nothing is closed on the policies read when asked
                facts = replace(facts, policies_unread=exc.user_message)
        return facts

    def _approved(self, request: ChangeRequest, verdict: Verdict, by: str,
                  approved_by: Sequence[str] | None = None) -> Outcome:
        """pending → approved and applied on an `apply` verdict, closed on a refusal."""
        if verdict.kind is VerdictKind.REFUSE:
            return self._close_pending(request, verdict.reason)
        # Decided by the approvals that sufficed: `by`'s, unless those given before it were enough already.
        decided = by if by in verdict.deciding or not verdict.deciding else verdict.deciding[-1]
        approved = self._move(request.id, [RequestState.PENDING], RequestState.APPROVED, decided_by=decided,
                              approvals_needed=verdict.needed, counted=list(verdict.deciding) or None, detail=None,
                              alive=True)
        if approved is None:
            # Its life may have ended while the approval was judged: closed as expired, as a click after it is.
            found = self._open_request(request.id, by, "Approve")
            return found if isinstance(found, Outcome) else self._already(request)
        return self._apply(approved, by=by, approvals=approved_by)

    def judge_again(self) -> list[Outcome]:
        """Every pending request that asks approvals, judged again in turns (JUDGED_PER_SWEEP) against those the
        rules ask now: one with an approval applied or closed as the judge now says; one without closed only when
        the judge refuses it whoever approves (applying it takes a click)."""
        now = self.clock()
        turns = self.store.judging_turns(now, JUDGED_PER_SWEEP, now + JUDGE_AGAIN_SECONDS)
        approvers = self.store.approvers_by_request([r.id for r in turns])
        if any(approvers[r.id] for r in turns):
            # An approval lets a write through on a membership, at the sweep as at a click: counted on the groups
            # listed now, not on a listing made before an approver's removal.
            self.access.looked_up_again()
        # The rules may ask fewer approvals now than when it was asked: the judge tells, on any approved at all.
        return [self._guarded(r, partial(self._judged_again, r, approvers[r.id])) for r in turns
                if r.expires_at > now and r.approvals_needed]

    def _judged_again(self, request: ChangeRequest, approved_by: list[str]) -> Outcome:
        before, asked, rules = self._asked_on(request), Asked.of(request), self.access.rules
        if before is None:
            return self._close_pending(request, POLICY_DAMAGED, OutcomeKind.INVALID)
        verdict = self._on_the_policy_now(request, approved_by, rules,
                                          self._judge(Stage.APPROVING, before, asked, approved_by, rules=rules))
        if verdict.kind is VerdictKind.WAIT and verdict.nobody_left is not None:
            return self._nobody_left(request, verdict)
        if not approved_by and verdict.kind is not VerdictKind.REFUSE:  # applied only by a click
            return Outcome(OutcomeKind.COUNTED, "Still waiting.", None)
        if verdict.kind is VerdictKind.APPLY and request.facts is not None:
            # Weighed, as an approval is, on its facts (they only ever ask more, so a wait stays one unread): a
            # guardrail's override still owed would otherwise be claimed, and sent back to waiting, every sweep.
            # That verdict is the one acted on: a refusal on them closes it, never approved on the facts-free one.
            verdict = self._on_the_policy_now(request, approved_by, rules, self._judge(
                Stage.APPROVING, before, asked, approved_by, self._approving_facts(request, rules), rules))
        if verdict.kind in (VerdictKind.APPLY, VerdictKind.REFUSE):
            # Decided by the last approval that still counts: one the rules no longer count decided nothing, and
            # where none is asked any more, it is approved by its asking.
            return self._approved(request, verdict, verdict.deciding[-1] if verdict.deciding else
                                  (approved_by or [request.requester])[-1]
                                  if verdict.kind is VerdictKind.REFUSE else request.requester)
        if verdict.kind is VerdictKind.CANNOT_TELL:
            self.store.judge_later(request.id, self.clock())  # its next turn at the next sweep
        return Outcome(OutcomeKind.COUNTED, "Still waiting.", None)  # nothing moved, nothing to tell

    def _refused_whoever_approves(self, request: ChangeRequest) -> Outcome | None:
        """A click its clicker may not give, on a request the judge refuses whoever approves it (its channel's rule
        gone, its requester's rights): closed with the judge's reason, not left to wait for approvals no approver
        can give. Judged on what the request keeps: nothing is read for a clicker the rules do not name."""
        verdict = self._judge(Stage.APPROVING, BackupPolicy.model_validate(request.before), Asked.of(request),
                              self.store.approvers_of(request.id))
        # A guardrail's refusal is judged on the values the change was asked on: left to those who may decide.
        refused = verdict.kind is VerdictKind.REFUSE and verdict.refusal is not Refusal.GUARDRAIL
        return self._close_pending(request, verdict.reason) if refused else None

    def _on_the_policy_now(self, request: ChangeRequest, approved_by: Sequence[str], rules: AccessRules,
                           verdict: Verdict) -> Verdict:
        return self.on_the_policy_now(DatabaseRef(request.organization, request.database), request.policy_id,
                                      Asked.of(request), approved_by, rules, verdict)

    def on_the_policy_now(self, db: DatabaseRef, policy_id: str, asked: Asked, approved_by: Sequence[str],
                          rules: AccessRules, verdict: Verdict,
                          listed: Callable[[], list[BackupPolicy]] | None = None) -> Verdict:
        """A guardrail's refusal of an update, or the approvals its override asks while waiting, judged on the values
        it was asked on, stand only on the policy as PlanetScale holds it now: a field the change leaves alone may
        have moved since (in the dashboard) into what the guardrails allow. Judged there as when it applies
        (nothing read is kept: it applies under its lease, read again). The door for a request and for each policy
        of a bulk change; `listed`: the database's policies, as a bulk step reads them once for all of its own."""
        guarded = verdict.refusal is Refusal.GUARDRAIL or (verdict.kind is VerdictKind.WAIT and verdict.overridden)
        if not guarded or asked.kind is not ChangeKind.UPDATE:
            return verdict
        try:
            current = self._stored_policy(db, policy_id, listed() if listed is not None else None)
        except PolicyNotFound:
            return verdict
        except PlanetScaleError as exc:
            return Verdict(VerdictKind.CANNOT_TELL, f"the policy could not be read to judge the guardrails on it "
                                                    f"as it is now ({exc.user_message})")
        if all(current.field_value(f) == asked.before.get(f) for f in EDITABLE_FIELDS):
            return verdict
        return self._judge(Stage.APPLYING, current, asked, approved_by, rules=rules)

    def _nobody_left(self, request: ChangeRequest, verdict: Verdict) -> Outcome:
        """Said once, across instances, and recorded with its claim; the request stays pending, as its groups may
        be refilled. Said again on a later turn where Slack did not take it (its thread note or DM given back)."""
        detail = nobody_left_detail(verdict)
        if not (request.message_channel and request.message_ts):
            # Shown through a response URL only: no thread to say it in, now or later; its requester hears it.
            self.store.claim_notice_recorded(request.id, NOBODY_LEFT_SAID[0], request_event(
                "waiting", request, SYSTEM, detail="the note that nobody left can approve it is not said in its "
                "thread: its message has no thread the bot can reply in (shown through a response URL)"))
        if not self.store.claim_notice_recorded(request.id, NOBODY_LEFT,
                                                request_event("waiting", request, SYSTEM, detail=detail)) and \
                all(self.store.notice_claimed_at(request.id, said) is not None for said in NOBODY_LEFT_SAID):
            return Outcome(OutcomeKind.COUNTED, "Still waiting.", None)
        return Outcome(OutcomeKind.NOBODY_LEFT, f"Still waiting: {detail}.", request, approvals=verdict.missing,
                       nobody_left=verdict.nobody_left or ())

    def reject(self, request_id: str, user: str) -> Outcome:
        found = self._open_request(request_id, user, "Reject")
        if isinstance(found, Outcome):
            return found
        refusal = self._may_decide(found, user)
        if refusal:
            return self._refused_whoever_approves(found) or refusal
        return self._close(found, RequestState.REJECTED, user)

    def cancel(self, request_id: str, user: str) -> Outcome:
        found = self._open_request(request_id, user, "Cancel")
        if isinstance(found, Outcome):
            return found
        if user != found.requester:
            self._record_request("refused", found, user, detail="only the requester may cancel")
            return Outcome(OutcomeKind.REFUSED, f"Only the requester, {person(found.requester)}, can cancel this "
                                                "request.", found)
        return self._close(found, RequestState.CANCELLED, user)

    def _close(self, request: ChangeRequest, state: RequestState, user: str) -> Outcome:
        """pending → rejected or cancelled, unless another click moved it first."""
        closed = self._move(request.id, [RequestState.PENDING], state, decided_by=user,
                            record=request_event(state.value, request, user))
        if closed is None:
            return self._already(request)
        kind = OutcomeKind.REJECTED if state is RequestState.REJECTED else OutcomeKind.CANCELLED
        return Outcome(kind, f"{state.value.capitalize()}: nothing was sent to PlanetScale.", closed)

    def _may_decide(self, request: ChangeRequest, user: str) -> Outcome | None:
        """Approve and reject are judged under the rule of the request's own channel, wherever the click is."""
        if user == request.requester:
            self._record_request("refused", request, user, detail="own request")
            return Outcome(OutcomeKind.REFUSED, "Nobody approves or rejects their own request: another approver "
                                                "must. You can cancel it.", request)
        # Not on a membership listed before the click: the clicker may have left the group that let them decide.
        self.access.looked_up_again()
        decision = self.access.decided(user, Action.APPROVE, request.organization, request.database,
                                       request.targets, request.channel)
        if not decision.allowed:
            self._record_request("refused", request, user, detail=decision.reason)
            return Outcome(OutcomeKind.REFUSED, decision.reason, request)
        return None

    def guardrails_demand(self, organization: str, database: str, before: Mapping[str, Any],
                          after: Mapping[str, Any], reason: str | None, facts: DatabaseFacts | None = None) -> Demand:
        """The guardrails as they are now, on a change from `before` to `after`: for a form's preview, with what
        it knows of the database (the estimate's basis: a storage bound is judged on it, as the preview shows)."""
        verdict = judge(self.access.rules.guardrails, organization, database, before, after, facts)
        return demand(verdict, reason)

    def _still_waiting(self, request: ChangeRequest, judged: Verdict, approvals: int,
                       message: str | None = None) -> Outcome:
        """Keep the request pending with what the rules now ask, and say how many approvals are missing. Its
        next turn is JUDGE_AGAIN_SECONDS out, unless more than the `approvals` judged have landed meanwhile:
        their click may have found it could not be judged and made it due at the next sweep, which stands."""
        changed = (judged.needed != request.approvals_needed or judged.not_counted
                   or dict(judged.groups) != (request.approvals_from or {}))
        detail = waiting_detail(judged) if changed else None
        updated = self._move(request.id, [RequestState.PENDING], RequestState.PENDING,
                             approvals_needed=judged.needed, approvers=self._approvers_shown(judged),
                             approvals_from=dict(judged.groups) or None, detail=detail,
                             judge_at=self.clock() + JUDGE_AGAIN_SECONDS) or request
        if len(self.store.approvers_of(request.id)) > approvals:
            self.store.judge_later(request.id, self.clock())
        owed = f" Still missing: {owed_text(judged.owed)}." if judged.owed else ""
        return Outcome(OutcomeKind.COUNTED, message or f"Approved: {len(judged.counted)} of {judged.needed} "
                       f"approvals so far.{owed}", updated)

    def _close_pending(self, request: ChangeRequest, why: str,
                       kind: OutcomeKind = OutcomeKind.NO_LONGER_ALLOWED) -> Outcome:
        closed = self._move(request.id, [RequestState.PENDING], RequestState.FAILED, detail=why,
                            record=request_event("failed", request, SYSTEM, detail=why))
        if closed is None:
            return self._already(request)
        return Outcome(kind, f"Not applied: {why.rstrip('.')}. Nothing was sent.", closed)

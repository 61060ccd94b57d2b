"""The bulk door: one change over many policies (bot/domain/batches.py). It only translates: each policy is
judged by the one judge when asked (those it may not change are listed with the reason), the batch waits for
what every listed policy's rules ask together, and once approved each policy is a change request of its own,
applied through the change path under its own lease and judged again there on what was read under it. One
policy's failure never stops the others."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from bot.domain.access_rules import Action, reminder_at
from bot.domain.audit import AuditEvent
from bot.domain.batches import (
    MAX_POLICIES,
    Batch,
    BatchOutcome,
    BatchOutcomeKind,
    BatchState,
    BatchStore,
    Planned,
    Skipped,
    SkipReason,
    batch_records,
    refused_records,
)
from bot.domain.bulk_costs import DatabaseBases, SharedReads, bulk_facts
from bot.domain.bulk_finding import Finding, Found, Selection
from bot.domain.bulk_judging import UNSETTLED, Judging
from bot.domain.bulk_standing import owed_words
from bot.domain.change_requests import ChangeRequest, RequestState, derived_id
from bot.domain.changes import ChangePath
from bot.domain.commands import DatabaseRef
from bot.domain.group_directory import DirectoryError
from bot.domain.judge import Asked, Refusal, Stage, Verdict, VerdictKind
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS, JUDGED_PER_SWEEP
from bot.domain.naming import channel as named_channel
from bot.domain.naming import person
from bot.domain.outcomes import Outcome, OutcomeKind, explain, request_event, risks_of, unknown_button
from bot.domain.policy import PolicyUpdate, resulting_values
from bot.domain.ports import PlanetScaleError

log = logging.getLogger(__name__)
SKIPPED_AS = {Refusal.NOT_ALLOWED: SkipReason.NOT_ALLOWED, Refusal.GUARDRAIL: SkipReason.GUARDRAIL,
              Refusal.INVALID: SkipReason.INVALID, Refusal.NO_APPROVERS: SkipReason.NO_APPROVERS,
              Refusal.MOVED: SkipReason.INVALID}


class BulkPath(Finding, Judging):
    def __init__(self, changes: ChangePath, store: BatchStore):
        self.changes, self.store = changes, store

    # --- asking -----------------------------------------------------------------------------------------

    def ask(self, user: str, channel: str, selection: Selection, update: PolicyUpdate, reason: str | None = None,
            dry_run: bool = False, retry_of: str | None = None) -> BatchOutcome:
        org = selection.organization
        batch_id = derived_id()
        asked = self.store.get_batch(batch_id) if batch_id is not None else None
        if asked is not None:  # this work's first run stored it, and stopped before it was done
            return self._stored_before(asked, user)
        try:
            found = self._find(user, channel, selection)
        except DirectoryError as exc:
            return self._refuse(user, org, channel, explain(exc))
        except PlanetScaleError as exc:
            self.changes.store.record(AuditEvent(action="failed", actor=user, organization=org, database="",
                                                 detail=f"listing databases for a bulk change: {exc.user_message}",
                                                 channel=channel))
            return BatchOutcome(BatchOutcomeKind.FAILED, exc.user_message)
        if isinstance(found, BatchOutcome):
            return found
        if len(found.policies) > MAX_POLICIES:
            why = (f"{selection.words} names {len(found.policies)} policies, and one change may cover at most "
                   f"{MAX_POLICIES}. Nothing was asked or sent: narrow it (a narrower glob, a policy name, "
                   "`--where target=…`) and ask in parts.")
            self._refuse(user, org, channel, why)
            return BatchOutcome(BatchOutcomeKind.TOO_MANY, why, count=len(found.policies))
        batch = self._plan(user, channel, selection, update, reason, found, retry_of)
        if batch_id is not None:
            batch.id = batch_id
        if not batch.planned:
            for record in refused_records(batch):
                self.changes.store.record(record)
            return BatchOutcome(BatchOutcomeKind.NOTHING, "Nothing was asked or sent: no policy it names may be "
                                                          "changed as asked.", batch)
        if dry_run:
            for record in batch_records(batch, "dry_run", user):
                self.changes.store.record(record)
            return BatchOutcome(BatchOutcomeKind.PREVIEWED, "Dry run: nothing was sent.", batch)
        stored = self.store.add_batch(batch, self._asked_records(batch))
        if stored.id != batch.id:  # a second Retry click, here or on another instance
            where = f"see its message in {named_channel(stored.channel)}. Nothing more was done."
            if stored.state is BatchState.PENDING:
                return BatchOutcome(BatchOutcomeKind.CLOSED, f"This retry is already asked by "
                                                             f"{person(stored.requester)} and is waiting for "
                                                             f"approval: {where}", stored)
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change was retried already by "
                                                         f"{person(stored.requester)}: what failed again is offered "
                                                         f"on the retry's own message; {where}", stored)
        if stored is not batch:
            # Stored first by another run of this work (redone while this one stalled): that one stands, not this.
            return self._stored_before(stored, user)
        if batch.approvals_needed:
            return BatchOutcome(BatchOutcomeKind.REQUESTED, "Your bulk change is waiting for approval.", batch)
        return self._approve_and_apply(batch, user, [])

    def _stored_before(self, batch: Batch, user: str) -> BatchOutcome:
        """A bulk change found stored by an earlier run of the same work: carried on from where that run
        stopped (approved and applied when it needs no approval, shown if it never was), else where it stands."""
        if batch.state is BatchState.PENDING and not batch.approvals_needed:
            return self._approve_and_apply(batch, user, [])
        if batch.state is BatchState.PENDING and batch.message_ts is None:
            return BatchOutcome(BatchOutcomeKind.REQUESTED, "Your bulk change is waiting for approval.", batch)
        return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {batch.state.value}; nothing "
                                                     "more was done.", batch)

    def choices(self, user: str, channel: str, selection: Selection) -> Found | BatchOutcome:
        """For a form: the policies named that the user may see here (MAX_POLICIES at most), and those left out."""
        try:
            found = self._find(user, channel, selection)
        except DirectoryError as exc:
            return self._refuse(user, selection.organization, channel, explain(exc))
        except PlanetScaleError as exc:
            return BatchOutcome(BatchOutcomeKind.FAILED, exc.user_message)
        if isinstance(found, BatchOutcome):
            return found
        if len(found.policies) > MAX_POLICIES:
            return BatchOutcome(BatchOutcomeKind.TOO_MANY, f"{selection.words} names {len(found.policies)} policies, "
                                f"and one change may cover at most {MAX_POLICIES}: narrow it.",
                                count=len(found.policies))
        if not found.policies:
            why = "".join(f" `{s.database}`: {s.detail}." for s in found.skipped[:5])
            return BatchOutcome(BatchOutcomeKind.NOTHING, f"No policy you may see matches {selection.words}.{why}")
        return found

    def _plan(self, user: str, channel: str, selection: Selection, update: PolicyUpdate, reason: str | None,
              found: Found, retry_of: str | None) -> Batch:
        changes = update.to_api()
        planned: list[Planned] = []
        skipped = list(found.skipped)
        groups: dict[str, int] = {}
        principals: dict[str, None] = {}
        bases: dict[str, DatabaseBases] = {}  # each database's backups read once for all its policies
        for database, policy in found.policies:
            if all(policy.field_value(f) == v for f, v in changes.items()):
                skipped.append(Skipped(database, policy.id, policy.name, SkipReason.UNCHANGED,
                                       "it already has these values"))
                continue
            asked = Asked(selection.organization, database, user, channel, policy.model_dump(), changes, reason)
            facts = bulk_facts(bases, self.changes.policies.planetscale, DatabaseRef(selection.organization, database),
                               found.listed.get(database, []), policy, str(changes.get("target", policy.target)))
            verdict = self.changes.judged(Stage.ASKING, policy, asked, (), facts)
            if verdict.kind is VerdictKind.CANNOT_TELL:
                skipped.append(Skipped(database, policy.id, policy.name, SkipReason.UNCHECKED, verdict.reason))
                continue
            if verdict.kind is VerdictKind.REFUSE:
                assert verdict.refusal is not None
                skipped.append(Skipped(database, policy.id, policy.name, SKIPPED_AS[verdict.refusal],
                                       verdict.reason))
                continue
            for group, count in verdict.groups:
                groups[group] = max(groups.get(group, 0), count)
            principals.update(dict.fromkeys(verdict.approvers))
            risks = risks_of(policy, resulting_values(policy, update)) + list(verdict.overridden)
            planned.append(Planned(database, policy.id, policy.name, policy.model_dump(), verdict.needed,
                                   dict(verdict.groups), risks, facts.to_json()))
            # The next policy of this database is judged on its policies as they would be after this one's change
            # (how many of a target), as it is when they apply.
            after = policy.model_copy(update=update.to_api())
            found.listed[database] = [after if p.id == policy.id else p for p in found.listed.get(database, [])]
        now = self.changes.clock()
        needed = max([p.needed for p in planned] + [sum(groups.values())], default=0)
        return Batch(organization=selection.organization, requester=user, channel=channel,
                     selection=selection.words, changes=changes, planned=planned, skipped=skipped,
                     approvals_needed=needed, expires_at=now + self.changes.access.rules.expire_after_seconds,
                     reason=reason, approvals_from=groups or None,
                     approvers=[self.changes.access.groups.resolve(p) for p in principals], hidden=found.hidden,
                     retry_of=retry_of, created_at=now)

    def _asked_records(self, batch: Batch) -> list[AuditEvent]:
        tag = f"bulk change {batch.id[:8]}"
        records = [AuditEvent(action="requested", actor=batch.requester, organization=batch.organization,
                              database=p.database, policy_id=p.policy_id, policy_name=p.policy_name,
                              before=p.before, sent=batch.changes, reason=batch.reason, channel=batch.channel,
                              detail=f"{tag}: needs {batch.approvals_needed} approval(s)")
                   for p in batch.planned]
        return records + refused_records(batch)

    # --- deciding ---------------------------------------------------------------------------------------

    def _open(self, batch_id: str, user: str, button: str) -> Batch | BatchOutcome:
        batch = self.store.get_batch(batch_id)
        if batch is None:
            self.changes.store.record(unknown_button(user, None, button, batch_id))
            return BatchOutcome(BatchOutcomeKind.REFUSED, "That bulk change does not exist (the button may not be "
                                                          "from this bot).")
        if batch.state is BatchState.PENDING and batch.expires_at <= self.changes.clock():
            expired = self.store.close_batch(batch.id, BatchState.EXPIRED, None, batch_records(batch, "expired"))
            if expired is not None:
                return BatchOutcome(BatchOutcomeKind.EXPIRED, "This bulk change has expired; nothing was done. Ask "
                                                              "again if it is still needed.", expired)
            batch = self.store.get_batch(batch_id) or batch
        if batch.state is not BatchState.PENDING:
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {batch.state.value}; "
                                                         "nothing more was done.", batch)
        return batch

    def approve(self, batch_id: str, user: str) -> BatchOutcome:
        found = self._open(batch_id, user, "Approve")
        if isinstance(found, BatchOutcome):
            return found
        batch = found
        refusal = self._may_decide(batch, user)
        if isinstance(refusal, BatchOutcome):
            return refusal
        added = self.store.add_batch_approval(batch.id, user)
        if added == []:  # closed, or past its life, between the look and the approval: nothing is stored
            closed = self._open(batch.id, user, "Approve")
            if isinstance(closed, BatchOutcome):
                return closed
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {closed.state.value}; "
                                                         "nothing more was done.", closed)
        approvers = self.store.batch_approvers(batch.id) if added is None else added
        shared = SharedReads()  # the click's reads: each database once for all its policies, and for its message
        verdicts = [self._judge_planned(batch, p, approvers, shared) for p in batch.live]
        unchecked = [v for v in verdicts if v.kind is VerdictKind.CANNOT_TELL]
        if unchecked:
            return BatchOutcome(BatchOutcomeKind.REFUSED, f"Nothing was sent: {unchecked[0].reason}. Your approval "
                                                          "is recorded; click Approve again in a moment.", batch,
                                reads=shared)
        waiting = [v for v in verdicts if v.kind is VerdictKind.WAIT]
        if waiting:
            again = "You have already approved this bulk change; each approver counts once. " if added is None else ""
            return BatchOutcome(BatchOutcomeKind.COUNTED, f"{again}Approved: {owed_words(waiting)}", batch,
                                reads=shared)
        return self._approve_and_apply(batch, user, approvers, verdicts, shared)

    def _may_decide(self, batch: Batch, user: str, every: bool = False) -> BatchOutcome | list[tuple[str, str]]:
        """The policies still in the change that `user` may approve, as (database, policy ID): the first found,
        or `every` one; a refusal with the reason, to them alone, when there is none."""
        if user == batch.requester:
            return BatchOutcome(BatchOutcomeKind.REFUSED, "Nobody approves or rejects their own request: another "
                                                          "approver must. You can cancel it.", batch)
        reasons, mine = [], []
        try:
            for p in batch.live:
                targets = [p.before["target"], batch.changes.get("target", p.before["target"])]
                decision = self.changes.access.decide(user, Action.APPROVE, batch.organization, p.database, targets,
                                                      batch.channel)
                if decision.allowed:
                    mine.append(p.key)
                    if not every:
                        break
                else:
                    reasons.append(decision.reason)
        except DirectoryError as exc:
            reasons, mine = [explain(exc)], []
        if mine:
            return mine
        reasons = reasons or ["You may approve none of the policies this bulk change still holds."]
        self.changes.store.record(AuditEvent(action="refused", actor=user, organization=batch.organization,
                                             database="", channel=batch.channel,
                                             detail=f"bulk change {batch.id[:8]}: {reasons[0]}"))
        return BatchOutcome(BatchOutcomeKind.REFUSED, reasons[0], batch)

    def reject(self, batch_id: str, user: str) -> BatchOutcome:
        """The rejecter's policies are out of the change; the others wait for their own approvers (or apply now)."""
        found = self._open(batch_id, user, "Reject")
        if isinstance(found, BatchOutcome):
            return found
        mine = self._may_decide(found, user, every=True)
        if isinstance(mine, BatchOutcome):
            return mine
        records = [replace(r, detail=f"{r.detail}: rejected by {user}")
                   for r in batch_records(found, BatchState.REJECTED.value, user) if (r.database, r.policy_id) in mine]
        rejected = self.store.reject_planned(found.id, user, mine, records)
        if rejected is None:
            latest = self.store.get_batch(found.id) or found
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {latest.state.value}; "
                                                         "nothing more was done.", latest)
        if rejected.state is BatchState.REJECTED:
            return BatchOutcome(BatchOutcomeKind.REJECTED, "Rejected: nothing was sent to PlanetScale.", rejected)
        approvers, shared = self.store.batch_approvers(rejected.id), SharedReads()  # the click's reads
        verdicts = self._ready(rejected, approvers, shared) if approvers else None
        if verdicts is not None:
            return self._approve_and_apply(rejected, approvers[-1], approvers, verdicts, shared)
        out = len(rejected.planned) - len(rejected.live)
        return BatchOutcome(BatchOutcomeKind.PART_REJECTED, f"Rejected for the {out} of its policies you may "
                            "approve: nothing is sent for them. The other "
                            f"{len(rejected.live)} still wait for their own approvers.", rejected, reads=shared)

    def cancel(self, batch_id: str, user: str) -> BatchOutcome:
        found = self._open(batch_id, user, "Cancel")
        if isinstance(found, BatchOutcome):
            return found
        if user != found.requester:
            return BatchOutcome(BatchOutcomeKind.REFUSED, f"Only the requester, {person(found.requester)}, can cancel "
                                                          "this bulk change.", found)
        return self._close(found, BatchState.CANCELLED, user)

    def _close(self, batch: Batch, state: BatchState, user: str) -> BatchOutcome:
        closed = self.store.close_batch(batch.id, state, user, batch_records(batch, state.value, user))
        if closed is None:
            latest = self.store.get_batch(batch.id) or batch
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {latest.state.value}; "
                                                         "nothing more was done.", latest)
        kind = BatchOutcomeKind.REJECTED if state is BatchState.REJECTED else BatchOutcomeKind.CANCELLED
        return BatchOutcome(kind, f"{state.value.capitalize()}: nothing was sent to PlanetScale.", closed)

    # --- applying ---------------------------------------------------------------------------------------

    def _approve_and_apply(self, batch: Batch, by: str, approvers: Sequence[str], verdicts: Sequence[Verdict] = (),
                           shared: SharedReads | None = None) -> BatchOutcome:
        """Each policy a request of its own, approved by the approvals that count for it, then applied in turn.
        `verdicts`: each live policy's, judged on `shared`, the reads of the step that judged them."""
        shared = shared if shared is not None else SharedReads()
        expires = (now := self.changes.clock()) + self.changes.access.rules.expire_after_seconds
        if not verdicts and approvers:
            verdicts = [self._judge_planned(batch, p, approvers, shared) for p in batch.live]
        counted = {p.key: verdicts[i].counted if verdicts else () for i, p in enumerate(batch.live)}
        members = [ChangeRequest(
            organization=batch.organization, database=p.database, policy_id=p.policy_id, policy_name=p.policy_name,
            requester=batch.requester, channel=batch.channel, before=p.before, changes=dict(batch.changes),
            approvals_needed=p.needed, approvals_from=p.groups or None, approvers=list(batch.approvers),
            risks=p.risks, reason=batch.reason, expires_at=expires, created_at=now, updated_at=now,
            state=RequestState.APPROVED, decided_by=(counted[p.key] or (by,))[-1], facts=p.facts,
            detail=f"bulk change {batch.id[:8]}") for p in batch.live]
        records = [request_event("approved", m, a, detail=m.detail) for m in members
                   for a in counted[m.database, m.policy_id]]
        if not self.store.approve_batch(batch.id, by, members, approvers, records):
            latest = self.store.get_batch(batch.id) or batch
            if latest.state is BatchState.PENDING and latest.expires_at <= self.changes.clock():
                # Its life ended while it was judged: closed as expired, as a click after it is.
                expired = self.store.close_batch(batch.id, BatchState.EXPIRED, None,
                                                 batch_records(latest, "expired"))
                if expired is not None:
                    return BatchOutcome(BatchOutcomeKind.EXPIRED, "This bulk change has expired; nothing was "
                                                                  "sent to PlanetScale. Ask again if it is still "
                                                                  "needed.", expired)
                latest = self.store.get_batch(batch.id) or latest
            if latest.state is BatchState.PENDING and approvers and latest.live != batch.live:
                # Some of its policies were rejected while this approval was judged: the rest are judged again.
                ready = self._ready(latest, approvers, shared)
                if ready is not None:
                    return self._approve_and_apply(latest, by, approvers, ready, shared)
                return BatchOutcome(BatchOutcomeKind.COUNTED, "Your approval is recorded. Some of its policies were "
                                    "rejected meanwhile: nothing is sent for them; the others still wait.", latest,
                                    reads=shared)
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {latest.state.value}; "
                                                         "nothing more was done.", latest)
        for member in members:
            self._record_outcome(member.id, self._apply_one(member, member.decided_by or by).kind)
        latest = self.store.get_batch(batch.id) or batch
        return BatchOutcome(BatchOutcomeKind.DONE, "Applied, policy by policy.", latest,
                            tuple(self.store.batch_members(batch.id)))

    def _record_outcome(self, request_id: str, kind: OutcomeKind) -> None:
        self.store.set_member_outcome(request_id, kind)
        # A member's end is told through its batch (its message, its thread, the requester's DM), never on its
        # own: once closed, no sweep tells it again.
        self.changes.store.mark_told(request_id, [])

    def _apply_one(self, member: ChangeRequest, by: str) -> Outcome:
        """One policy through the change path; whatever happens to it, the next one goes on."""
        try:
            return self.changes.apply_approved(member, by)
        except Exception as exc:
            log.exception("bulk member %s could not be applied", member.id)
            return Outcome(OutcomeKind.FAILED, explain(exc), member)

    def retry(self, batch_id: str, user: str, channel: str) -> BatchOutcome:
        """The same change asked again, by `user`, for the policies of a batch that were not applied."""
        batch = self.store.get_batch(batch_id)
        if batch is None:
            self.changes.store.record(unknown_button(user, channel, "Retry", batch_id))
            return BatchOutcome(BatchOutcomeKind.REFUSED, "That bulk change does not exist (the button may not be "
                                                          "from this bot).")
        failed = [m.request for m in self.store.batch_members(batch.id) if m.retryable]
        if not failed:
            return BatchOutcome(BatchOutcomeKind.CLOSED, "No policy of this bulk change failed: nothing to retry.",
                                batch)
        selection = Selection(batch.organization, chosen=tuple((r.database, r.policy_id) for r in failed))
        # A reason is its asker's own: one who retries another's change gave none (a guardrail's override asks it).
        reason = batch.reason if user == batch.requester else None
        return self.ask(user, channel, selection, PolicyUpdate(**batch.changes), reason, retry_of=batch.id)

    def pending_for(self, user: str) -> list[Batch]:
        """Open bulk changes this user can act on: cancel their own, or approve one they have not approved yet
        and whose rules let them approve some policy of it."""
        found = []
        for batch in self.store.open_batches():
            if batch.expires_at <= self.changes.clock():
                continue
            if batch.requester == user:
                found.append(batch)
                continue
            try:
                allowed = any(self.changes.access.decide(
                    user, Action.APPROVE, batch.organization, p.database,
                    [p.before["target"], batch.changes.get("target", p.before["target"])], batch.channel).allowed
                    for p in batch.live)
            except DirectoryError:
                continue
            if allowed and user not in self.store.batch_approvers(batch.id):
                found.append(batch)
        return found

    # --- keeping things moving --------------------------------------------------------------------------

    def expire_due(self) -> list[Batch]:
        """Expire pending batches past their time; several instances may run this at once."""
        expired = []
        for batch in self.store.expired_batches(self.changes.clock()):
            closed = self.store.close_batch(batch.id, BatchState.EXPIRED, None, batch_records(batch, "expired"))
            if closed is not None:
                expired.append(closed)
        return expired

    def judge_again(self) -> list[BatchOutcome]:
        """Pending bulk changes with an approval (waiting, or unjudged): judged again in turns, as requests are."""
        outcomes, now = [], self.changes.clock()
        for batch in self.store.batch_judging_turns(now, JUDGED_PER_SWEEP, now + JUDGE_AGAIN_SECONDS):
            approvers = self.store.batch_approvers(batch.id)
            if batch.expires_at <= now or not batch.approvals_needed or not approvers:
                continue
            try:
                kinds = {self._judge_planned(batch, p, approvers, kept=False).kind for p in batch.live}
                shared, verdicts = SharedReads(), None
                if not kinds & UNSETTLED:  # the rules alone would apply it: judged as an approval is, facts read again
                    verdicts = [self._judge_planned(batch, p, approvers, shared) for p in batch.live]
                    kinds = {v.kind for v in verdicts}
                if VerdictKind.CANNOT_TELL in kinds:
                    self.store.judge_batch_later(batch.id, self.changes.clock())  # its next turn: the next sweep
                elif verdicts is not None and VerdictKind.WAIT not in kinds:
                    outcomes.append(self._approve_and_apply(batch, approvers[-1], approvers, verdicts, shared))
            except Exception:
                log.exception("the sweep could not judge bulk change %s again", batch.id)
        return outcomes

    def due_reminders(self) -> list[tuple[Batch, list[str]]]:
        """Pending bulk changes that reached a reminder moment of their life (`[approvals] remind`), as requests
        do: each moment claimed once in the database, so the approvers hear it once however many sweep."""
        due = []
        now = self.changes.clock()
        for batch in self.store.open_batches():
            if batch.expires_at <= now:
                continue
            passed = [m for m in self.changes.access.rules.reminders
                      if batch.created_at < reminder_at(m, batch.created_at, batch.expires_at) <= now]
            claimed = [m for m in passed if self.changes.store.claim_notice(batch.id, f"remind:{m}")]
            if claimed:
                due.append((batch, [f"remind:{m}" for m in claimed]))
        return due

    def member_moved(self, outcome: Outcome) -> Batch | None:
        """A step on a member, by the sweep or by a click (one sent back to waiting is approved as a request):
        kept as its outcome when it moved it; the batch it belongs to, or None for an ordinary request."""
        request = outcome.request
        batch_id = self.store.batch_of_request(request.id) if request is not None else None
        if request is None or batch_id is None:
            return None
        if outcome.request_moved and outcome.kind is not OutcomeKind.CLOSED:
            self._record_outcome(request.id, outcome.kind)
        return self.store.get_batch(batch_id)

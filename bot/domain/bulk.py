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
    Batch,
    BatchOutcome,
    BatchOutcomeKind,
    BatchState,
    BatchStore,
    Planned,
    approval_records,
    batch_records,
    batch_stands,
    member_id,
)
from bot.domain.bulk_asking import Asking
from bot.domain.bulk_costs import SharedReads
from bot.domain.bulk_finding import Selection
from bot.domain.bulk_judging import UNSETTLED, Judging
from bot.domain.bulk_standing import held_words, later_words, owed_words
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.changes import ChangePath
from bot.domain.group_directory import DirectoryError
from bot.domain.judge import Refusal, Verdict, VerdictKind
from bot.domain.judge_access import Decision
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS, JUDGED_PER_SWEEP, bulk_tries, skipped
from bot.domain.naming import channel as named_channel
from bot.domain.naming import outside, person
from bot.domain.outcomes import (
    NOBODY_LEFT,
    NOBODY_LEFT_SAID,
    Outcome,
    OutcomeKind,
    StepUntold,
    approval_kept,
    explain,
    nobody_left_detail,
    unknown_button,
)
from bot.domain.policy import PolicyUpdate

log = logging.getLogger(__name__)


class BulkPath(Asking, Judging):
    def __init__(self, changes: ChangePath, store: BatchStore):
        self.changes, self.store = changes, store

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
        mine = self._may_decide(batch, user, every=True)
        if isinstance(mine, BatchOutcome):
            return self._refused_whoever_approves(batch, clicked=True) or mine
        # On the trail for each policy it counts for, in the write that stores it, as a request's approval is.
        added = self.store.add_batch_approval(batch.id, user, approval_records(batch, user, mine))
        if added == []:  # closed, or past its life, between the look and the approval: nothing is stored
            closed = self._open(batch.id, user, "Approve")
            if isinstance(closed, BatchOutcome):
                return closed
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {closed.state.value}; "
                                                         "nothing more was done.", closed)
        with approval_kept(f"the bulk change “{outside(batch.selection)}” of {batch.organization}"):
            return self._approved(batch, user, added)

    def _approved(self, batch: Batch, user: str, added: list[str] | None) -> BatchOutcome:
        """An approval on the record (`added`: the approvers it leaves, None when it was there already): judged,
        and applied where it is the last one owed."""
        approvers = self.store.batch_approvers(batch.id) if added is None else added
        shared = SharedReads()  # the click's reads: each database once for all its policies, and for its message
        verdicts = self._judged(batch, approvers, shared)
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
        self.changes.access.looked_up_again()  # as a single request's: memberships listed after the click
        reasons, mine = [], []
        decided: dict[tuple[str, tuple[str, str]], Decision] = {}
        try:
            for p in batch.live:
                targets = (p.before["target"], batch.changes.get("target", p.before["target"]))
                if (p.database, targets) not in decided:  # policies alike on one database are decided once
                    decided[p.database, targets] = self.changes.access.decide(
                        user, Action.APPROVE, batch.organization, p.database, targets, batch.channel)
                decision = decided[p.database, targets]
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
            return self._refused_whoever_approves(found, clicked=True) or mine
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

    def _refused_whoever_approves(self, batch: Batch, approvers: Sequence[str] | None = None,
                                  clicked: bool = False) -> BatchOutcome | None:
        """A click its clicker may not give (or the sweep's turn), on a bulk change the judge refuses for every
        policy still in it whoever approves (its channel's rule gone, its requester's rights): closed with the
        judge's reason, as a single request is (Deciding._refused_whoever_approves), not left to wait for
        approvals no approver can give. Judged on what it keeps: nothing is read for a clicker the rules do not
        name. Where only some are refused, nothing is closed here: an approval applies the others, and the refused
        ones end not applied with the judge's reason."""
        approvers = self.store.batch_approvers(batch.id) if approvers is None else approvers
        # At the sweep's turn, a guardrail's verdict is judged on each policy as it is now (each database's policies
        # read once); at a click, as at a single request's, it is left to those who may decide, and to the sweep.
        listed = None if clicked else SharedReads()
        verdicts = [self._judge_planned(batch, p, approvers, kept=False, listed=listed) for p in batch.live]
        if not verdicts or any(v.kind is not VerdictKind.REFUSE or (clicked and v.refusal is Refusal.GUARDRAIL)
                               for v in verdicts):
            return None
        why = verdicts[0].reason
        # Each policy's record with its own verdict's reason: both follow batch.live.
        records = [replace(r, detail=f"{r.detail}: {v.reason}")
                   for r, v in zip(batch_records(batch, BatchState.REFUSED.value), verdicts, strict=True)]
        closed = self.store.close_batch(batch.id, BatchState.REFUSED, None, records)
        if closed is None:
            latest = self.store.get_batch(batch.id) or batch
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change is already {latest.state.value}; "
                                                         "nothing more was done.", latest)
        return BatchOutcome(BatchOutcomeKind.NO_LONGER_ALLOWED,
                            f"Not applied: {why.rstrip('.')}. Nothing was sent to PlanetScale.", closed)

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
        tries = bulk_tries(expires - now)
        if not verdicts and approvers:
            verdicts = self._judged(batch, approvers, shared)
        # As a single change is decided (Deciding._approved): by the approvals that decided it, judged now.
        judged = {p.key: verdicts[i] if verdicts and verdicts[i].kind is VerdictKind.APPLY else None
                  for i, p in enumerate(batch.live)}
        counted = {k: v.deciding or v.counted if v else () for k, v in judged.items()}
        needed = {p.key: v.needed if (v := judged[p.key]) else p.needed for p in batch.live}
        members = [ChangeRequest(
            id=member_id(batch.id, p.key), organization=batch.organization, database=p.database,
            policy_id=p.policy_id, policy_name=p.policy_name,
            requester=batch.requester, channel=batch.channel, before=p.before, changes=dict(batch.changes),
            approvals_needed=needed[p.key], approvals_from=p.groups or None,
            approvers=list(batch.approvers), risks=p.risks, reason=batch.reason, expires_at=expires, created_at=now,
            updated_at=now, state=RequestState.APPROVED, counted=list(counted[p.key]) or None,
            decided_by=by if by in counted[p.key] else (counted[p.key] or (by,))[-1], facts=p.facts,
            detail=f"bulk change {batch.id[:8]}{later_words(shared.passing(p.database), tries)}") for p in batch.live]
        if not self.store.approve_batch(batch.id, by, members, approvers):
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
        applied, limited, rated = 0, False, False
        unread: set[str] = set()  # databases whose policies could not be read under a lease for a moment
        try:
            for member in members:
                if shared.passing(member.database) is not None or member.database in unread or limited:
                    # Its database failed a read of this step for a moment, or PlanetScale refused a call as rate
                    # limited: its own turn at the next sweep, not a try now (with its waits) on a PlanetScale that
                    # just failed; the others go on.
                    if limited:  # its line says why it waits
                        self.changes.store.transition(member.id, [RequestState.APPROVED], RequestState.APPROVED,
                                                      detail=f"bulk change {batch.id[:8]}{held_words(rated, tries)}")
                    self._record_outcome(member.id, OutcomeKind.QUEUED)
                    continue
                outcome = self._apply_one(member, member.decided_by or by)
                applied += outcome.kind is OutcomeKind.APPLIED
                # PlanetScale not answering at all: the others would each pay the same tries, whatever database.
                limited, rated = outcome.rate_limited or outcome.unreachable, outcome.rate_limited
                if outcome.unread_for_now:
                    unread.add(member.database)
                self._record_outcome(member.id, outcome.kind)
            latest = self.store.get_batch(batch.id) or batch
            return BatchOutcome(BatchOutcomeKind.DONE, "Applied, policy by policy.", latest,
                                tuple(self.store.batch_members(batch.id)))
        except Exception as exc:  # the database failing once policies may have changed: where it stands is told
            raise StepUntold(batch_stands(batch, f"approved, {applied} of its {len(members)} policies applied so "
                                                 "far")) from exc

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
        # A policy an applied retry of it planned has its outcome there, and its own Retry; one that retry left
        # out (its database unreadable then, or not the retrier's to change) is still this batch's to retry.
        earlier = [b for b in self.store.retries_of(batch.id) if b.state is BatchState.APPROVED]
        again = {p.key for b in earlier for p in b.planned}
        failed = [m.request for m in self.store.batch_members(batch.id)
                  if m.retryable and (m.request.database, m.request.policy_id) not in again]
        if not failed and earlier:
            return BatchOutcome(BatchOutcomeKind.CLOSED, f"This bulk change was retried already by "
                                                         f"{person(earlier[-1].requester)}: what failed again is "
                                                         f"offered on the retry's own message; see its message in "
                                                         f"{named_channel(earlier[-1].channel)}. Nothing more was "
                                                         "done.", earlier[-1])
        if not failed:
            return BatchOutcome(BatchOutcomeKind.CLOSED, "No policy of this bulk change failed: nothing to retry.",
                                batch)
        # The policies as the request named them: a `--where target=…` still narrows them.
        selection = Selection(batch.organization, chosen=tuple((r.database, r.policy_id) for r in failed),
                              where_target=batch.where_target)
        # A reason is its asker's own: one who retries another's change gave none (a guardrail's override asks it).
        reason = batch.reason if user == batch.requester else None
        return self.ask(user, channel, selection, PolicyUpdate(**batch.changes), reason, retry_of=batch.id)

    def pending_for(self, user: str) -> list[Batch]:
        """Open bulk changes this user can act on: cancel their own, or approve one they have not approved yet
        and whose rules let them approve some policy of it."""
        batches, now = self.store.open_batches(limit=None), self.changes.clock()
        own, allowed = set(), []
        # Each place judged once, however many open bulk changes hold a policy there (several over one fleet, their
        # retries): a decision reads every principal of its rules.
        judged: dict[tuple[str, str, tuple[str, ...], str], bool] = {}

        def may_approve(batch: Batch, p: Planned) -> bool:
            targets = (p.before["target"], batch.changes.get("target", p.before["target"]))
            key = (batch.organization, p.database, targets, batch.channel)
            if key not in judged:
                judged[key] = self.changes.access.decide(user, Action.APPROVE, key[0], key[1], list(key[2]),
                                                         key[3]).allowed
            return judged[key]

        # All of them, however many are open: one left unread would be missing from the list and its count.
        for batch in batches:
            if not _open_at(batch, now):
                continue
            if batch.requester == user:
                own.add(batch.id)
                continue
            try:
                if any(may_approve(batch, p) for p in batch.live):
                    allowed.append(batch)
            except DirectoryError:
                continue
        approvers = self.store.approvers_by_batch([b.id for b in allowed])  # one read, however many
        listed = own | {batch.id for batch in allowed if user not in approvers[batch.id]}
        return [batch for batch in batches if batch.id in listed]  # as the store orders them, the oldest first

    # --- keeping things moving --------------------------------------------------------------------------

    def expire_due(self) -> list[Batch]:
        """Expire pending batches past their time; several instances may run this at once."""
        expired = []
        for batch in self.store.expired_batches(self.changes.clock()):
            try:  # one row the database cannot write now (locked by another session past the lock timeout)
                closed = self.store.close_batch(batch.id, BatchState.EXPIRED, None, batch_records(batch, "expired"))
            except Exception as exc:
                skipped(log, self.changes.store.row_held(exc), f"the sweep could not expire bulk change {batch.id}")
                continue
            if closed is not None:
                expired.append(closed)
        return expired

    def judge_again(self) -> list[BatchOutcome]:
        """Pending bulk changes judged again in turns, as requests are: closed when the judge refuses every policy
        in one whoever approves; applied when those with an approval now have what their rules ask."""
        outcomes, now = [], self.changes.clock()
        turns = [(b, self.store.batch_approvers(b.id))
                 for b in self.store.batch_judging_turns(now, JUDGED_PER_SWEEP, now + JUDGE_AGAIN_SECONDS)]
        if any(approvers for _, approvers in turns):
            self.changes.access.looked_up_again()  # as at a click: not a listing made before an approver left
        for batch, approvers in turns:
            if not _swept_open(batch, now) or not batch.approvals_needed:
                continue
            try:
                refused = self._refused_whoever_approves(batch, approvers)  # with or without approvals
                if refused is not None:
                    outcomes.append(refused)
                    continue
                stuck = self._nobody_left(batch, approvers)
                if stuck is not None:
                    outcomes.append(stuck)
                    continue
                if not approvers:  # none approved: applied only by a click, as when it was asked
                    continue
                shared, verdicts = SharedReads(), None
                kinds = {self._judge_planned(batch, p, approvers, kept=False, listed=shared).kind for p in batch.live}
                if not kinds & UNSETTLED:  # the rules alone would apply it: judged as an approval is, facts read again
                    verdicts = self._judged(batch, approvers, shared)
                    kinds = {v.kind for v in verdicts}
                if VerdictKind.CANNOT_TELL in kinds:
                    self.store.judge_batch_later(batch.id, self.changes.clock())  # its next turn: the next sweep
                elif verdicts is not None and VerdictKind.WAIT not in kinds:
                    outcomes.append(self._approve_and_apply(batch, approvers[-1], approvers, verdicts, shared))
            except Exception:
                log.exception("the sweep could not judge bulk change %s again", batch.id)
        return outcomes

    def _nobody_left(self, batch: Batch, approvers: Sequence[str]) -> BatchOutcome | None:
        """Its policies that nobody left could give the approvals they still need, judged on the rules alone (no
        PlanetScale read) as a single request is (ChangePath._nobody_left): said once, across instances, and
        recorded with its claim; said again on a later turn where Slack did not take it. It stays pending, as its
        groups may be refilled; None when someone could approve each, or who could is not known."""
        stuck = [(p, v) for p in batch.live
                 if (v := self._judge_planned(batch, p, approvers, kept=False)).kind is VerdictKind.WAIT
                 and v.nobody_left is not None]
        if not stuck:
            return None
        first, verdict = stuck[0]
        groups = tuple(dict.fromkeys(g for _, v in stuck for g in v.nobody_left or ()))
        detail = (f"bulk change {batch.id[:8]}: {len(stuck)} of its {len(batch.live)} policies wait for approvals "
                  f"nobody left may give; {first.policy_name}: {nobody_left_detail(verdict)}")
        [record] = [replace(r, detail=detail) for r in batch_records(batch, "waiting")
                    if (r.database, r.policy_id) == first.key]
        if not self.changes.store.claim_notice_recorded(batch.id, NOBODY_LEFT, record) and \
                all(self.changes.store.notice_claimed_at(batch.id, said) is not None for said in NOBODY_LEFT_SAID):
            return None
        return BatchOutcome(BatchOutcomeKind.NOBODY_LEFT, detail, batch, count=len(stuck), nobody_left=groups)

    def due_reminders(self) -> list[tuple[Batch, list[str]]]:
        """Pending bulk changes that reached a reminder moment of their life (`[approvals] remind`), as requests
        do: each moment claimed once in the database, so the approvers hear it once however many sweep."""
        due = []
        now = self.changes.clock()
        for batch in self.store.open_batches(limit=None):  # each one open, however many
            if not _swept_open(batch, now):
                continue
            if not isinstance(batch.created_at, int | float):  # text SQLite kept: no moment of its life is known
                log.warning("the sweep reminds no approver of bulk change %s: its creation time in the database is "
                            "no time", batch.id)
                continue
            passed = [m for m in self.changes.access.rules.reminders
                      if batch.created_at < reminder_at(m, batch.created_at, batch.expires_at) <= now]
            try:
                claimed = [m for m in passed if self.changes.store.claim_notice(batch.id, f"remind:{m}")]
            except Exception as exc:
                skipped(log, self.changes.store.row_held(exc),
                        f"the sweep could not claim a reminder of bulk change {batch.id}")
                continue
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


def _open_at(batch: Batch, now: float) -> bool:
    """Whether `batch` is still open at `now`; not where its expiry is no time (text the database held for it):
    the sweep expires it, and until then it is left out rather than stopping the others."""
    try:
        return bool(batch.expires_at > now)
    except TypeError:
        return False


def _swept_open(batch: Batch, now: float) -> bool:
    """`_open_at` for the sweep's steps, which say when they skip one whose expiry is no time."""
    if isinstance(batch.expires_at, int | float):
        return batch.expires_at > now
    log.warning("the sweep skips bulk change %s: its expiry in the database is no time; it is expired once the "
                "database takes the write", batch.id)
    return False

"""Applying a request, under its policy's lease: the policy is read under the lease (never before it), the
judge decides on that read, and only its `apply` sends the PATCH. A PATCH whose outcome is not known keeps the
policy to itself (its request stays applying) until what PlanetScale holds settles it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.domain.access_rules import AccessRules
from bot.domain.audit import AuditEvent, iso_of, moment_of
from bot.domain.backup_health import read_facts
from bot.domain.change_requests import DATABASE_LEASE, ChangeKind, ChangeRequest, RequestState
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.judge import (
    Asked,
    DirectoryFacts,
    Refusal,
    Snapshot,
    Stage,
    Verdict,
    VerdictKind,
    judge,
)
from bot.domain.late_creations import ANSWERED_AFTER_CLOSING, not_held
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS, JUDGED, SENDING, Lifecycle
from bot.domain.outcomes import (
    POLICY_DAMAGED,
    SYSTEM,
    JudgedAgain,
    Outcome,
    OutcomeKind,
    approval_note,
    describe_state,
    explain,
    request_event,
    taken_over,
    waiting_detail,
)
from bot.domain.policy import EDITABLE_FIELDS, BackupPolicy, PolicyUpdate, moved_meanwhile
from bot.domain.ports import FRESH_SECONDS, Claim, HeldUp, LeaseLost, PlanetScaleError, RateLimited, Unavailable
from bot.domain.reading import PolicyNotFound
from bot.domain.snapshots import Snapshots

log = logging.getLogger(__name__)
S = RequestState
REFUSED_AS = {Refusal.MOVED: OutcomeKind.CONFLICT, Refusal.INVALID: OutcomeKind.INVALID,
              Refusal.NOT_ALLOWED: OutcomeKind.NO_LONGER_ALLOWED, Refusal.GUARDRAIL: OutcomeKind.NO_LONGER_ALLOWED,
              Refusal.NO_APPROVERS: OutcomeKind.NO_LONGER_ALLOWED}
QUEUED_BEHIND = ("Approved. Another change holds this policy right now (being asked or applied, or a move, "
                 "creation or deletion in its database); this one is applied after it by the bot's sweep, which "
                 "judges it again then.")
# The detail of a request PlanetScale answered and whose record failed: its `after` holds the answer.
ANSWERED = "answered: PlanetScale carried it out; recording it failed"
LANDED_UNRECORDED = ("Applied at PlanetScale, but it could not be recorded: the bot's database failed. PlanetScale "
                     "holds the change; the bot's sweep records it once its database is back.")


class Applying(Snapshots, Lifecycle):
    def apply_approved(self, request: ChangeRequest, by: str) -> Outcome:
        """The door for a request stored approved elsewhere (a bulk change's member): applied under its policy's
        lease, judged again there on what was read under it, as any request."""
        return self._apply(request, by)

    # --- applying -------------------------------------------------------------------------------------

    def _apply(self, request: ChangeRequest, by: str, approvals: Sequence[str] | None = None) -> Outcome:
        """approved → applying → applied, failed or back to pending, under the policy's lease. `approvals`: the
        request's, when just read (they are only ever added, so none is missed)."""
        with self.turns.turn(request.policy_key, self.claim_wait) as my_turn:
            claim = self._claim_or_queue(request) if my_turn else None
            if claim is None:
                latest = self.store.get_request(request.id) or request
                if latest.state is S.APPROVED:
                    return Outcome(OutcomeKind.QUEUED, QUEUED_BEHIND, latest)
                return self._already(request)
            with self._working(claim):  # the request's last move gives the lease back with it
                return self._apply_claimed(claim, by, approvals)

    def _claim_or_queue(self, request: ChangeRequest) -> Claim | None:
        """The claim, or None at once when another request on the policy waits for the sweep to settle it."""
        claim = self.store.claim_for_applying(request, [S.APPROVED], self.lease_seconds)
        if claim is not None:
            return claim
        if self._unsettled(request):
            return None
        return self._claim(request, [S.APPROVED])

    def _unsettled(self, request: ChangeRequest) -> bool:
        now = self.clock()
        if request.policy_key.endswith(DATABASE_LEASE):  # the database's lease: creations, deletions, moves, renames
            return any(r.id != request.id and r.lease_until < now and r.policy_key == request.policy_key
                       for r in self.store.requests([S.APPLYING], limit=None))
        return any(r.id != request.id and r.lease_until < now for r in self.store.policy_requests(
            request.organization, request.database, request.policy_id, [S.APPLYING]))

    def _apply_claimed(self, claim: Claim, by: str, approvals: Sequence[str] | None = None) -> Outcome:
        """Judge the claimed request on the policy as read now, under its lease, and act on that verdict."""
        request = claim.request
        if not request.approvals_needed and self.clock() >= request.expires_at and \
                self.store.batch_of_request(request.id) is None:
            # Queued past its life (behind a change left to the sweep): never sent long after it was asked. A bulk
            # change's policy is tried within its own bound, and told why it ended where it ends (_tried_until).
            return self._fail(request, by, "it could not be applied before the request expired (another change "
                                           "to the policy was being applied). Nothing was sent; ask again if it "
                                           "is still needed.", claim=claim)
        db = DatabaseRef(request.organization, request.database)
        asked = self._asked_on(request)
        if asked is None:
            return self._fail(request, by, f"{POLICY_DAMAGED}. Nothing was sent.", OutcomeKind.INVALID, claim)
        # One read of the rules decides both which facts are gathered and the verdict on them: a storage bound
        # added in between is never judged on sizes read when the change was asked.
        rules = self.access.rules
        backups = self._backups_now(request, db, asked, rules)
        # Approvals are only added while it is pending: none lands from here on. They let the write through on
        # memberships and on people Slack still has active, as listed and asked as this step began (a click's, a
        # sweep's) or now, whichever door brought it here (a bulk Reject that leaves the rest approved): never on
        # older answers. Asked before the read, so that no wait of theirs falls between the read and the write.
        approved_by = self.store.approvers_of(request.id) if approvals is None else approvals
        if approved_by:
            self.access.looked_up_within(FRESH_SECONDS)
        self._activity([request.requester, *approved_by])
        claim.reading()
        try:
            listed = self.policies.list_policies(db)
            current = asked if request.kind is ChangeKind.CREATE else \
                self._stored_policy(db, request.policy_id, listed)
        except (PolicyNotFound, PlanetScaleError) as exc:
            return self._unread(claim, by, exc)
        claim.read(self.clock())
        request = self._named_now(claim, current, rules)
        recorded = backups or DatabaseFacts.of(request.facts) or DatabaseFacts()
        facts = recorded.with_policies([(p.id, p.name, p.target) for p in listed])
        verdict = self._judge(Stage.APPLYING, current, Asked.of(request), approved_by, facts, rules)
        claim.rules = rules
        if verdict.refusal is Refusal.MOVED:
            verdict = self._moved_by_bot(request, current, verdict, rules)
        refused = self._not_applying(claim, by, verdict)
        if refused is not None:
            return refused
        self._as_judged(claim, verdict)
        if request.kind is ChangeKind.CREATE:
            return self._send_create(claim, by, db, current)
        if request.kind is ChangeKind.DELETE:
            return self._send_delete(claim, by, db, current, facts)
        return self._send(claim, by, db, current, PolicyUpdate(**request.changes), facts=facts)

    def _moved_by_bot(self, request: ChangeRequest, current: BackupPolicy, verdict: Verdict,
                      rules: AccessRules) -> Verdict:
        """A policy the bot's own other changes (its audit trail) took from the values it was asked on to those it
        holds now: told as changed by them, not in PlanetScale. Nothing is sent either way, so this read waits on
        no send."""
        def settings(policy: dict[str, Any]) -> dict[str, Any]:
            return {f: policy.get(f) for f in EDITABLE_FIELDS}

        want, asked, made = settings(current.model_dump()), settings(dict(request.before)), []
        for event in self.store.latest(request.organization, request.database, [request.policy_id], 10):
            if event.action != "applied" or event.policy_id != request.policy_id or event.request_id in (
                    None, request.id) or not event.after or not event.before:
                continue
            if settings(event.after) != want:
                return verdict  # changed since by someone else: PlanetScale's to tell
            batch = self.store.batch_of_request(str(event.request_id))
            made.append(f"bulk change `{batch[:8]}`" if batch else f"change `{str(event.request_id)[:8]}`")
            want = settings(event.before)
            if want == asked:
                # The judge refuses a moved policy before it looks at anyone: no directory is needed to word it.
                again = judge(Snapshot(Stage.APPLYING, rules, current, Asked.of(request), (), DirectoryFacts({}, {}),
                                       moved_by=f"by the bot's {' and '.join(reversed(made))}"))
                return again if again.refusal is Refusal.MOVED else verdict
        return verdict

    def _unread(self, claim: Claim, by: str, exc: PolicyNotFound | PlanetScaleError) -> Outcome:
        """The claimed request's policy could not be read under its lease: nothing was sent."""
        request = claim.request
        why = f"the policy could not be read again before applying: {exc.user_message}"
        if isinstance(exc, PolicyNotFound):
            if request.kind is ChangeKind.DELETE:
                why = "the policy is no longer in PlanetScale (deleted elsewhere since the request). Nothing was sent"
                return self._fail(request, by, why, claim=claim)
            # Gone is no failure of PlanetScale's: told as what moved since the request (a bulk line, a post),
            # and by whom, as a moved policy is.
            deleted = [r for r in self.store.policy_requests(request.organization, request.database,
                                                             request.policy_id, [S.APPLIED])
                       if r.kind is ChangeKind.DELETE]
            where = f"by the bot's change `{deleted[-1].id[:8]}`" if deleted else "in PlanetScale"
            why = f"the policy is no longer in PlanetScale (deleted {where} since the request). Nothing was sent"
            return self._fail(request, by, why, OutcomeKind.CONFLICT, claim=claim)
        until, then, gave_up = self._tried_until(request, "the bot tries again shortly")
        if isinstance(exc, Unavailable | RateLimited | HeldUp) and self.clock() < until:
            # A passing failure closes nothing: nothing was sent, and the sweep reads it again.
            return replace(self._tried_again(claim, f"{why}; {then}"), unread_for_now=True,
                           rate_limited=isinstance(exc, RateLimited), unreachable=exc.unreachable)
        return replace(self._fail(request, by, why + gave_up, claim=claim), unreachable=exc.unreachable)

    def _tried_again(self, claim: Claim, why: str) -> Outcome:
        """The claimed request back to approved, nothing sent, for the sweep to try again; `why` says so."""
        request = claim.request
        back = self._move(request.id, [S.APPLYING], S.APPROVED, claim=claim, detail=why,
                          record=request_event("waiting", request, SYSTEM, detail=why)) or request
        return Outcome(OutcomeKind.QUEUED, f"Not applied yet, nothing was sent: {why}.", back)

    def _not_applying(self, claim: Claim, by: str, verdict: Verdict) -> Outcome | None:
        """The claimed request moved as a verdict other than apply asks (nothing sent); None for apply."""
        request = claim.request
        if verdict.kind is VerdictKind.REFUSE:
            assert verdict.refusal is not None
            why = verdict.reason if verdict.refusal in (Refusal.MOVED, Refusal.INVALID) else \
                f"{verdict.reason.rstrip('.')}. Nothing was sent."
            return self._fail(request, by, why, REFUSED_AS[verdict.refusal], claim)
        until, then, gave_up = self._tried_until(request, "the bot judges it again shortly") \
            if verdict.kind is VerdictKind.CANNOT_TELL else (0.0, "", "")
        # A bulk change's policy has no Approve button of its own: it stays approved for the sweep to judge again.
        if verdict.kind is VerdictKind.CANNOT_TELL and (gave_up or not request.approvals_needed):
            if self.clock() >= until:
                # Judged no sooner than its request lives: closed, never sent long after it was asked.
                ended = "its tries ended" if gave_up else "the request expired"
                return self._fail(request, by, f"it could not be judged before {ended} ({verdict.reason}). Nothing "
                                               f"was sent{gave_up or '; ask again if it is still needed'}.",
                                  claim=claim)
            return self._tried_again(claim, f"{verdict.reason}; {then}")
        if verdict.kind is not VerdictKind.APPLY:
            why, turn = (f"{verdict.reason}; approve again in a moment to apply it", 0.0) \
                if verdict.kind is VerdictKind.CANNOT_TELL else (waiting_detail(verdict), JUDGE_AGAIN_SECONDS)
            back = self._move(request.id, [S.APPLYING], S.PENDING, claim=claim, judge_at=self.clock() + turn,
                              approvals_from=dict(verdict.groups) or (
                                  None if verdict.needed else request.approvals_from),
                              approvals_needed=verdict.needed or request.approvals_needed,
                              approvers=self._approvers_shown(verdict) or request.approvers, detail=why,
                              # Judged again here: those that still count, not those that decided it before
                              # (none known while they cannot be checked).
                              counted=list(verdict.counted) if verdict.kind is VerdictKind.WAIT else None,
                              record=request_event("waiting", request, SYSTEM, detail=why)) or request
            # Asked without approvals and left to the sweep, its requester was told it is applied: now it asks some.
            asks = verdict.kind is VerdictKind.WAIT and not request.approvals_needed and by == SYSTEM
            return Outcome(OutcomeKind.WAITING, f"Not applied yet, nothing was sent: {why}.", back, asks_approval=asks)
        return None

    def _judge_again(self, claim: Claim, by: str, db: DatabaseRef, facts: DatabaseFacts | None) -> None:
        """The send's fence after its write waited (the bot's budget, a Retry-After): the policy read again (the
        database's list, one GET a page) under the lease and judged again by the one judge; JudgedAgain, nothing
        sent, unless it applies. What the judge looks up (the approvals, the groups, a PlanetScale role, the
        backups under a storage bound) is looked up before the read, so that no wait of theirs falls between the
        read and the write; the read is marked when it is made."""
        request = claim.request
        known = facts or DatabaseFacts.of(request.facts) or DatabaseFacts()
        rules, approvals, by_whom = self.access.rules, self.store.approvers_of(request.id), [request.requester]
        if approvals:  # counted on the groups listed lately, as when it was claimed
            self.access.looked_up_within(FRESH_SECONDS)
        directory = self._facts(rules, db.organization, db.database, by_whom, [*by_whom, *approvals])
        asked = BackupPolicy.model_validate(request.before)
        # A storage bound is judged on the backups as they are now (one added while the write waited too, or one
        # judged before on sizes kept from its asking).
        backups = self._backups_now(request, db, asked, rules)
        if backups is not None:
            known = backups.with_policies(known.policies)
        claim.reading()
        try:
            # The database's list read again whole (a creation's has no policy yet): a floor counts the others there.
            policies = self.policies.list_policies(db)
            fresh = asked if request.kind is ChangeKind.CREATE else self._stored_policy(db, request.policy_id, policies)
        except (PolicyNotFound, PlanetScaleError) as exc:
            raise JudgedAgain(partial(self._unread, claim, by, exc)) from None
        claim.read(self.clock())
        self._named_now(claim, fresh, rules)
        if request.kind is ChangeKind.UPDATE and all(fresh.field_value(f) == v for f, v in request.changes.items()):
            # A try of this PATCH answered 429 or 5xx may have set them: as asked, never "nothing was sent".
            raise JudgedAgain(partial(self._found_as_asked, claim, by, fresh),
                              "read again before it was sent again, the policy holds the values asked")
        judged_on = self._landing(rules, db, known.with_policies([(p.id, p.name, p.target) for p in policies]),
                                  fresh.id)
        verdict = judge(Snapshot(Stage.APPLYING, rules, fresh, Asked.of(request), tuple(approvals), directory,
                                 judged_on))
        claim.rules = rules
        if verdict.kind is not VerdictKind.APPLY:
            raise JudgedAgain(partial(self._not_applying, claim, by, verdict))
        self._as_judged(claim, verdict)

    def _backups_now(self, request: ChangeRequest, db: DatabaseRef, asked: BackupPolicy,
                     rules: AccessRules) -> DatabaseFacts | None:
        """The backups as they are now, where a storage bound in `rules` covers the change's target (None where
        none does, and for a deletion). Read under the lease (the latest backup may have grown since the change was
        asked), and before the policy: read after it, their reads' time and waits would make the policy's read
        stale at the write."""
        target = str(request.changes.get("target", asked.target))
        if request.kind is ChangeKind.DELETE or not self.storage_bounded(db.organization, db.database, [target],
                                                                          rules):
            return None
        return read_facts(self.policies.planetscale, db, [], None if request.kind is ChangeKind.CREATE else asked,
                          target)

    if TYPE_CHECKING:  # creations and deletions (bot/domain/creating.py)
        def _send_create(self, claim: Claim, by: str, db: DatabaseRef, planned: BackupPolicy) -> Outcome: ...
        def _send_delete(self, claim: Claim, by: str, db: DatabaseRef, current: BackupPolicy,
                         facts: DatabaseFacts | None = None) -> Outcome: ...
        def _settle_lifecycle(self, claim: Claim, by: str, why: str, answered: bool) -> Outcome: ...
        def _found_as_asked(self, claim: Claim, by: str, fresh: BackupPolicy) -> Outcome: ...
        def _refused_but_held(self, claim: Claim, by: str, db: DatabaseRef,
                              exc: PlanetScaleError) -> Outcome | None: ...

    def _send(self, claim: Claim, by: str, db: DatabaseRef, current: BackupPolicy, update: PolicyUpdate,
              later: Callable[[], DatabaseFacts] | None = None, facts: DatabaseFacts | None = None) -> Outcome:
        """`later`: waits for the request's facts read beside the send, written with its next move; `facts`: as
        judged (the request's own when None), to judge it again on if its PATCH waits."""
        request = claim.request
        attempt = AuditEvent(action=SENDING, actor=request.requester, organization=db.organization,
                             database=db.database, policy_id=current.id, policy_name=current.name,
                             before=current.model_dump(), sent=update.to_api(), reason=request.reason,
                             channel=request.channel, request_id=request.id,
                             detail=approval_note(request, by),
                             at=iso_of(self.clock()))
        # On the record before it leaves: a crash after the PATCH is still told. And the PATCH has a full lease
        # to run in: judging may have taken a while (pages of policies, role look-ups).
        if not self._hold(claim, record=attempt):
            return taken_over(request)
        try:
            with self._fenced(claim, partial(self._judge_again, claim, by, db, facts), attempt):
                after = self.planetscale.update_policy(db.organization, db.database, current.id, update)
        except JudgedAgain as exc:
            claim.facts = _completed(later)
            return exc.outcome() or self._already(request)
        except PlanetScaleError as exc:
            claim.facts = _completed(later)
            if (held := self._refused_but_held(claim, by, db, exc)) is not None:
                return held
            ended = self._not_sent(claim, attempt, exc, "change", exc.definite,
                                   partial(self._settle, claim, by, exc.user_message, answered=exc.answered))
            limited = (isinstance(exc, RateLimited) and ended.kind is OutcomeKind.FAILED) or ended.rate_limited
            return replace(ended, rate_limited=limited, unreachable=exc.unreachable or ended.unreachable)
        claim.facts = _completed(later)
        applied = after.model_dump()
        attempt = replace(attempt, policy_name=claim.request.policy_name)  # as the fence's read may have found it
        moved = moved_meanwhile(current, update, after)
        if moved:
            note = (f"PlanetScale now holds {moved}, set there by someone else between the bot's read and its "
                    "PATCH (PlanetScale has no conditional PATCH to refuse it); this change set only "
                    f"{', '.join(update.to_api())}")
            return self._landed(claim, replace(attempt, action="applied", after=applied, detail=note),
                                f"Applied. {note}.", after, after=applied, detail=note)
        return self._landed(claim, replace(attempt, action="applied", after=applied,
                                           detail=approval_note(claim.request, by)), "Applied.", after, after=applied)

    def _landed(self, claim: Claim, record: AuditEvent, how: str, made: BackupPolicy | None = None,
                **values: Any) -> Outcome:
        """The one step after PlanetScale carried out a PATCH, POST or DELETE: recorded applied. When the
        database fails to record it, the person is told that PlanetScale holds the change and that its record
        could not be written, never "nothing was done": the request stays applying with its `sending` on the
        record, and PlanetScale's answer on it when a second write can keep it (`after`, on an applying
        request), so that the sweep records it applied once the database is back, whatever the policy holds by
        then; without it, the sweep settles it by reading PlanetScale."""
        request = claim.request
        values.setdefault("detail", None)  # an applied request's detail is a note on how it landed, if any
        values.update({k: getattr(request, k) for k in JUDGED if k not in values})
        try:
            done = self._move(request.id, [S.APPLYING], S.APPLIED, claim=claim, record=record, **values)
        except Exception:
            log.exception("request %s: PlanetScale carried it out, and recording it failed", request.id)
            if values.get("after") is not None:
                try:
                    self._move(request.id, [S.APPLYING], S.APPLYING, claim=claim, after=values["after"],
                               detail=ANSWERED)
                except Exception:
                    log.exception("request %s: and keeping PlanetScale's answer on it failed too", request.id)
            return Outcome(OutcomeKind.QUEUED, LANDED_UNRECORDED, request, after=made)
        if done is None:
            return self._landed_late(request, record, made, values)
        return Outcome(OutcomeKind.APPLIED, how, done or request, after=made)

    def _landed_late(self, request: ChangeRequest, record: AuditEvent, made: BackupPolicy | None,
                     values: dict[str, Any]) -> Outcome:
        """A send that landed after its worker outlived its lease. While the sweep that took the request over
        is still settling it (applying), PlanetScale's answer is recorded at once: applied, whatever the
        sweep's read, taken before the send landed, says (its write then finds it applied and moves nothing).
        Once the sweep closed it as failed, the record moves failed → applied with a note, and is told again;
        a change applied to the policy since may be overwritten by this one: the note names it."""
        latest = self.store.get_request(request.id)
        if latest is not None and latest.state is S.APPLYING:
            note = "PlanetScale answered its send after the worker had outlived its lease"
            done = self._move(request.id, [S.APPLYING], S.APPLIED, answered=True,
                              record=replace(record, detail=record.detail or note), **values)
            if done is not None:
                return Outcome(OutcomeKind.APPLIED, "Applied.", done, after=made)
            latest = self.store.get_request(request.id)
        if latest is None or latest.state is not S.FAILED:
            return self._already(request)
        policy_id = str(values.get("policy_id", request.policy_id))
        since = [r for r in self.store.policy_requests(request.organization, request.database, policy_id,
                                                       [S.APPLIED], updated_since=self._sent_at(request))
                 if r.id != request.id]
        note = ANSWERED_AFTER_CLOSING
        if since:
            note += (f"; it may have overwritten {', '.join(f'request {r.id[:8]}' for r in since)}, applied to "
                     "the policy since: check the policy")
        log.warning("request %s: %s", request.id, note)
        values["detail"] = note
        moved = self._move(request.id, [S.FAILED], S.APPLIED, told=False, record=replace(record, detail=note),
                           **values)
        return Outcome(OutcomeKind.APPLIED, f"Applied: {note}.", moved or latest, after=made)

    def _not_sent(self, claim: Claim, attempt: AuditEvent, exc: PlanetScaleError, what: str, unsent: bool,
                  settle: Callable[[], Outcome]) -> Outcome:
        """A request PlanetScale refused or left unanswered: failed when nothing was made (`unsent`); otherwise
        what PlanetScale holds now decides, read under a lease held again (the read may be as slow as the send
        was, and the lease was only sure to cover the send)."""
        request = claim.request
        if isinstance(exc, LeaseLost):  # nothing left; the sweep that took it over settles it
            latest = self.store.get_request(request.id) or request
            return Outcome(OutcomeKind.CLOSED, f"{exc.user_message} This request is {describe_state(latest)}.",
                           latest)
        if isinstance(exc, HeldUp):  # a passing failure, as a read that failed for a moment: closes nothing
            return self._unread(claim, SYSTEM, exc)
        if unsent:
            failed = self._move(request.id, [S.APPLYING], S.FAILED, claim=claim, detail=exc.user_message,
                                record=replace(attempt, action="failed", detail=exc.user_message))
            return Outcome(OutcomeKind.FAILED, f"Not applied: {exc.user_message}", failed or request)
        if not self._hold(claim):
            return Outcome(OutcomeKind.QUEUED, f"PlanetScale did not confirm the {what} ({exc.user_message}); the "
                                               "bot's sweep checks it and the message will show the result.", request)
        return settle()

    def _settle(self, claim: Claim, by: str, why: str, answered: bool = False) -> Outcome:
        """After a PATCH whose outcome is unknown (or a crash): applied if PlanetScale now holds every value it
        sets, failed if it does not; when PlanetScale cannot be read either, the request stays applying (and
        keeps its policy: no other change is claimed on it) and the sweep asks again later."""
        request = claim.request
        if request.kind is not ChangeKind.UPDATE:
            return self._settle_lifecycle(claim, by, why, answered)
        db = DatabaseRef(request.organization, request.database)
        try:
            current = self._stored_policy(db, request.policy_id)
        except PolicyNotFound as exc:
            return self._fail(request, by, f"the policy is gone from PlanetScale: {exc.user_message}", claim=claim)
        except PlanetScaleError as exc:
            # The bound counts from the PATCH: one sent late in the request's life gets as long as any other.
            expired = self.clock() - self._sent_at(request) > self.access.rules.expire_after_seconds
            if expired:
                return self._fail(request, by, f"whether PlanetScale applied it could not be confirmed: "
                                               f"{exc.user_message}", claim=claim)
            self._move(request.id, [S.APPLYING], S.APPLYING, claim=claim, detail=f"unconfirmed: {why}")
            return Outcome(OutcomeKind.QUEUED, f"PlanetScale did not confirm the change ({why}) and cannot be read "
                                               "right now; the bot checks again shortly and the message will show "
                                               "the result.", request, unreachable=exc.unreachable)
        if all(current.field_value(f) == v for f, v in request.changes.items()):
            after = current.model_dump()
            return self._landed(claim, request_event("applied", request, by, after=after,
                                                     detail=f"confirmed by reading the policy after: {why}"),
                                "Applied (confirmed by reading the policy again).", current, after=after)
        if not answered and self.clock() - self._sent_at(request) < self.lease_seconds:
            # PlanetScale may still carry out a PATCH the bot stopped waiting for: not held yet is not "not
            # applied" until a worker's lease has passed since it was sent. PlanetScale's own answer ended it.
            self._move(request.id, [S.APPLYING], S.APPLYING, claim=claim, detail=f"unconfirmed: {why}")
            return Outcome(OutcomeKind.QUEUED, f"PlanetScale did not confirm the change ({why}) and does not hold "
                                               "it yet; the bot checks again shortly and the message will show "
                                               "the result.", request)
        return self._fail(request, by, f"{why} {not_held(self.store, request, current)}", claim=claim)

    def _sent_at(self, request: ChangeRequest) -> float:
        """When the request's latest PATCH was sent (when it was asked, if none is on the record)."""
        sent = [moment_of(e.at) for e in self.store.events_of_request(request.id) if e.action == SENDING]
        return max(sent, default=request.created_at)

    def _fail(self, request: ChangeRequest, by: str, why: str, kind: OutcomeKind = OutcomeKind.FAILED,
              claim: Claim | None = None) -> Outcome:
        failed = self._move(request.id, [S.APPLYING], S.FAILED, claim=claim, detail=why,
                            record=request_event("failed", request, by, detail=why))
        if failed is None:  # moved meanwhile (a late answer recorded it applied), or taken over
            return self._already(request)
        return Outcome(kind, f"Not applied: {why}", failed)

    def _already(self, request: ChangeRequest) -> Outcome:
        """Another click, instance or sweep moved the request first: say where it stands now."""
        latest = self.store.get_request(request.id) or request
        return Outcome(OutcomeKind.CLOSED, f"This request is already {describe_state(latest)}.", latest)

    def _guarded(self, request: ChangeRequest, step: Callable[[], Outcome]) -> Outcome:
        """One request's failure does not stop the sweep for the others."""
        try:
            return step()
        except Exception as exc:
            log.exception("the sweep could not finish request %s", request.id)
            return Outcome(OutcomeKind.FAILED, explain(exc), None)


def _completed(later: Callable[[], DatabaseFacts] | None) -> dict[str, Any] | None:
    """The facts read beside a send; None when there were none to wait for, or their read broke (the request
    keeps the facts it was stored with: the change has been sent, and its outcome is what matters now)."""
    if later is None:
        return None
    try:
        return later().to_json()
    except Exception:
        log.exception("reading the estimate's basis beside a send failed")
        return None



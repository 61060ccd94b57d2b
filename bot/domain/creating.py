"""Creating and deleting a policy: changes like any other, through the one judge and the one lifecycle.

A creation's request holds the policy as it would be made (`before`) and the whole POST body (`changes`); a
deletion's holds the policy as it was asked to go, and no changes. Both take the database's lease for creations
and deletions (`ChangeRequest.policy_key`), so two creations of one name, or two deletions under a floor of
policies, are judged one after the other on what PlanetScale holds then. A creation's POST is sent once: one whose
answer is lost is settled by reading the policies (a policy of its name now there is the one it made).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.domain.applying import Applying
from bot.domain.audit import AuditEvent, iso_of
from bot.domain.backup_health import read_facts
from bot.domain.backups import CLOCK_MARGIN_SECONDS, parse_time
from bot.domain.change_requests import ChangeKind, ChangeRequest, RequestState, asked_by_this_work
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.field_problems import field_problems
from bot.domain.group_directory import DirectoryError
from bot.domain.late_creations import NOT_SHOWN
from bot.domain.lifecycle import SENDING
from bot.domain.naming import channel as named_channel
from bot.domain.naming import person
from bot.domain.outcomes import (
    ChangePlan,
    JudgedAgain,
    Outcome,
    OutcomeKind,
    approval_note,
    explain,
    request_event,
    taken_over,
)
from bot.domain.policy import (
    EDITABLE_FIELDS,
    BackupPolicy,
    PolicyUpdate,
    control_character,
    first_unseen,
    invisible_character,
    planned_policy,
    shows_something,
)
from bot.domain.ports import BadResponse, Claim, NotFound, NotSent, PlanetScaleError, RateLimited
from bot.domain.read_gate import Lookup, as_told, readable_targets
from bot.domain.reading import PolicyNotFound

S = RequestState


class Creating(Applying):
    # --- asking ---------------------------------------------------------------------------------------

    def ask_create(self, user: str, channel: str, db: DatabaseRef, values: PolicyUpdate, reason: str | None = None,
                   dry_run: bool = False) -> Outcome:
        """A new policy, asked through a door: judged like any change on the database as just read."""
        refused = self._may_see(user, channel, db)
        if refused is not None:
            return refused
        body = values.to_api()
        if "name" not in body or "target" not in body:
            return Outcome(OutcomeKind.INVALID, "Nothing was sent to PlanetScale:\n• a new policy needs a `name=` "
                                                "and a `target=`")
        try:
            listed = self.policies.list_policies(db)
        except PlanetScaleError as exc:
            return self._failed_read(user, db, channel, "reading the policies to create one", exc)
        try:
            planned = planned_policy(body)
        except ValueError:
            planned = None
        if planned is None:
            return Outcome(OutcomeKind.INVALID, "Nothing was sent to PlanetScale:\n• a new policy needs "
                                                "`retention=`, `frequency=` and `at=` as well")
        facts = read_facts(self.policies.planetscale, db, listed, None, planned.target, now=None)
        plan = ChangePlan(db, planned, values, reason, kind=ChangeKind.CREATE, facts=facts)
        return self._request(user, channel, plan, dry_run=dry_run)

    def ask_delete(self, user: str, channel: str, db: DatabaseRef, ref: str, reason: str | None = None,
                   dry_run: bool = False) -> Outcome:
        """A policy removed, asked through a door: a required one is refused before anything is asked."""
        refused = self._may_see(user, channel, db)
        if refused is not None:
            return refused
        try:
            listed, visible = self.policies.list_policies(db), self._visible(user, channel, db)
            current = self.policies.find_policy(db, ref, visible, listed=listed)
        except PolicyNotFound as exc:
            return Outcome(OutcomeKind.NOT_FOUND, exc.user_message)
        except PlanetScaleError as exc:
            return self._failed_read(user, db, channel, "reading the policy to delete it", exc)
        except DirectoryError as exc:
            return self._refuse(user, db, channel, explain(exc))
        facts = read_facts(self.policies.planetscale, db, listed, current, None)
        plan = ChangePlan(db, current, PolicyUpdate(), reason, kind=ChangeKind.DELETE, facts=facts)
        return as_told(self.access, self.policies, user, channel, Lookup(db, ref, visible, listed), current,
                       self._request(user, channel, plan, dry_run=dry_run))

    def _may_see(self, user: str, channel: str, db: DatabaseRef, request_id: str | None = None) -> Outcome | None:
        """The refusal, before anything is read, for someone no rule for the database names here (`request_id`:
        the request the refusal's audit entry is about)."""
        try:
            seen = self.access.may_see_database(user, db.organization, db.database, channel)
        except DirectoryError as exc:
            return self._refuse(user, db, channel, explain(exc), request_id=request_id)
        return None if seen.allowed else self._refuse(user, db, channel, seen.reason, request_id=request_id)

    def _visible(self, user: str, channel: str, db: DatabaseRef) -> set[str]:
        return readable_targets(self.access, user, channel, db)  # one Slack's groups leave unchecked: hidden

    if TYPE_CHECKING:  # the change path's (bot/domain/changes.py)
        def _refuse(self, user: str, db: DatabaseRef, channel: str, reason: str, policy: BackupPolicy | None = None,
                    update: PolicyUpdate | None = None, request_id: str | None = None) -> Outcome: ...

        def _failed_read(self, user: str, db: DatabaseRef, channel: str, what: str,
                         exc: PlanetScaleError) -> Outcome: ...

        def _request(self, user: str, channel: str, plan: ChangePlan, dry_run: bool = False,
                     revert_of: str | None = None, reference: str | None = None) -> Outcome: ...

        def _stored_before(self, stored: ChangeRequest) -> Outcome: ...

    # --- reverting ------------------------------------------------------------------------------------

    def _lifecycle_revert_asked(self, original: ChangeRequest) -> Outcome | None:
        """The revert of a creation or deletion already asked (open) or applied: one revert per change, not a
        second copy of a policy each click."""
        open_revert = self.store.requests([S.PENDING, S.APPROVED, S.APPLYING], limit=None, revert_of=original.id)
        applied = self.store.requests([S.APPLIED], limit=1, revert_of=original.id)
        if applied and not open_revert:
            # Its revert stands (a deletion's policy made again has its own buttons): one revert per change, not a
            # second copy of a policy each click.
            done, what = applied[0], "creation" if original.kind is ChangeKind.CREATE else "deletion"
            if asked_by_this_work(done.id):  # by this work's first run, which stopped after it applied
                return self._stored_before(done)
            return Outcome(OutcomeKind.CLOSED, f"This {what} was already reverted by "
                                               f"{person(done.requester)}'s request `{done.id[:8]}` in "
                                               f"{named_channel(done.channel)}. Nothing more was done.", done)
        if open_revert:
            asked = open_revert[0]
            if asked_by_this_work(asked.id):  # by this work's first run, which stopped before posting it
                return self._stored_before(asked)
            return Outcome(OutcomeKind.CLOSED, f"This revert is already asked by {person(asked.requester)}: see its "
                                               f"request in {named_channel(asked.channel)}. Nothing more was done.",
                           asked)
        return None

    def revert_lifecycle(self, original: ChangeRequest, user: str, channel: str) -> Outcome:
        """Reverting a creation deletes the policy it made; reverting a deletion makes the policy again as it was.
        Asked as any change, by `user`, with the bot's reason. A revert that would bring back a name the bot
        refuses (one named so elsewhere) is refused here, saying why."""
        db = DatabaseRef(original.organization, original.database)
        refused = restored_name_refusal(original)
        if refused is not None:
            return self._refuse(user, db, channel, refused, request_id=original.id)
        # Judged by the judge on the policies as read now; nothing is read for someone the rules do not name here.
        unseen = self._may_see(user, channel, db, request_id=original.id)
        if unseen is not None:
            return unseen
        reason = f"revert of the {original.kind.value} requested by {person(original.requester)}"
        asked = self._lifecycle_revert_asked(original)
        if asked is not None:
            return asked
        try:
            listed = self.policies.list_policies(db)
        except PlanetScaleError as exc:
            return self._failed_read(user, db, channel, "reading the policies to revert a change", exc)
        # Asked (or applied) on another instance while this read: that one stands, this read is stale.
        asked = self._lifecycle_revert_asked(original)
        if asked is not None:
            return asked
        if original.kind is ChangeKind.CREATE:
            made = next((p for p in listed if p.id == original.policy_id), None)
            gone = "The policy this created is no longer in PlanetScale; nothing to revert."
            if made is None:
                return Outcome(OutcomeKind.NOT_FOUND, gone)
            plan = ChangePlan(db, made, PolicyUpdate(), reason, reason_by_person=False, kind=ChangeKind.DELETE,
                              facts=read_facts(self.policies.planetscale, db, listed, made, None))
            # Moved since to a target the person may read nowhere: told as gone, judged and refused as any.
            return as_told(self.access, self.policies, user, channel,
                           Lookup(db, original.policy_id, self._visible(user, channel, db), listed), made,
                           self._request(user, channel, plan, revert_of=original.id, reference=original.id), gone)
        else:
            values: dict[str, Any] = {f: original.before[f] for f in EDITABLE_FIELDS
                                      if original.before.get(f) is not None}
            try:
                planned, update = planned_policy(values), PolicyUpdate(**values)
            except ValidationError as exc:
                return self._refuse(user, db, channel, unsendable(exc), request_id=original.id)
            plan = ChangePlan(db, planned, update, reason, reason_by_person=False,
                              kind=ChangeKind.CREATE,
                              facts=read_facts(self.policies.planetscale, db, listed, None, planned.target))
        return self._request(user, channel, plan, revert_of=original.id, reference=original.id)

    # --- applying, under the database's lease -------------------------------------------------------------

    def _attempt(self, claim: Claim, by: str, db: DatabaseRef, policy: BackupPolicy) -> AuditEvent:
        request = claim.request
        return AuditEvent(action=SENDING, actor=request.requester, organization=db.organization,
                          database=db.database, policy_id=policy.id or None, policy_name=policy.name,
                          before=policy.model_dump(), sent=dict(request.changes), reason=request.reason,
                          channel=request.channel, request_id=request.id,
                          detail=approval_note(request, by),
                          at=iso_of(self.clock()))

    def _send_create(self, claim: Claim, by: str, db: DatabaseRef, planned: BackupPolicy) -> Outcome:
        request = claim.request
        attempt = self._attempt(claim, by, db, planned)
        if not self._hold(claim, record=attempt):
            return taken_over(request)
        try:
            with self._fenced(claim, partial(self._judge_again, claim, by, db, None), attempt):
                made = self.planetscale.create_policy(db.organization, db.database, PolicyUpdate(**request.changes))
        except JudgedAgain as exc:
            return exc.outcome() or self._already(request)
        except PlanetScaleError as exc:
            # A 429 is PlanetScale refusing the POST unread: nothing was made, as with any refusal.
            unsent = exc.definite or (isinstance(exc, RateLimited) and exc.status == 429)
            return self._not_sent(claim, attempt, exc, "creation", unsent,
                                  partial(self._settle_lifecycle, claim, by, exc.user_message,
                                          answered=exc.answered))
        known = DatabaseFacts.of(request.facts)
        if known is not None and any(i == made.id for i, _, _ in known.policies):
            # Another policy's answer tells nothing of what the POST made (its Revert would delete that policy):
            # what PlanetScale lists decides, as for an answer lost.
            other = BadResponse(f"PlanetScale answered the creation for {db.organization}/{db.database} with the ID "
                                "of a policy the database held before it was sent; the bot reads the policies again "
                                "to learn what was made.", status=200)
            return self._not_sent(claim, attempt, other, "creation", False,
                                  partial(self._settle_lifecycle, claim, by, other.user_message, answered=True))
        return self._created(claim, made, replace(attempt, action="applied", detail=approval_note(claim.request, by)))

    def _created(self, claim: Claim, made: BackupPolicy, record: AuditEvent, how: str = "Applied.") -> Outcome:
        after = made.model_dump()
        return self._landed(claim, replace(record, policy_id=made.id, after=after), how, made, after=after,
                            policy_id=made.id, policy_name=made.name)

    def _send_delete(self, claim: Claim, by: str, db: DatabaseRef, current: BackupPolicy,
                     facts: DatabaseFacts | None = None) -> Outcome:
        """`facts`: the database's policies as read under the lease, to judge it again on if its DELETE waits (a
        floor counts those, never those listed when it was asked)."""
        request = claim.request
        attempt = self._attempt(claim, by, db, current)
        if not self._hold(claim, record=attempt):
            return taken_over(request)
        try:
            with self._fenced(claim, partial(self._judge_again, claim, by, db, facts), attempt):
                self.planetscale.delete_policy(db.organization, db.database, current.id)
        except JudgedAgain as exc:
            return exc.outcome() or self._already(request)
        except NotFound as exc:
            return self._settle_not_found(claim, by, attempt, exc)
        except PlanetScaleError as exc:
            return self._not_sent(claim, attempt, exc, "deletion", exc.definite,
                                  partial(self._settle_lifecycle, claim, by, exc.user_message,
                                          answered=exc.answered))
        return self._deleted(claim, replace(attempt, action="applied", detail=approval_note(claim.request, by)))

    def _settle_not_found(self, claim: Claim, by: str, attempt: AuditEvent, exc: NotFound) -> Outcome:
        """A DELETE answered 404: PlanetScale answers so for a policy gone (a retried DELETE whose first landed,
        one made elsewhere) and for a token without access to the database alike, so what it lists now tells
        which; when it cannot list the database either, nothing tells, and the request fails saying so."""
        request = claim.request
        try:
            listed = self.policies.list_policies(DatabaseRef(request.organization, request.database))
        except NotFound:
            return self._fail(request, by, "PlanetScale answered 404 to the deletion and to reading the database's "
                                           "policies: the database is gone, or the service token lacks access to "
                                           "it. Whether the policy is gone could not be told: check it in "
                                           "PlanetScale.", claim=claim)
        except PlanetScaleError as read:
            self._move(request.id, [S.APPLYING], S.APPLYING, claim=claim,
                       detail=f"unconfirmed: PlanetScale answered 404 to the deletion. {read.user_message}")
            return Outcome(OutcomeKind.QUEUED, "PlanetScale answered 404 to the deletion and cannot be read right "
                                               "now to tell whether the policy is gone; the bot checks again "
                                               "shortly and the message will show the result.", request)
        if all(p.id != request.policy_id for p in listed):
            return self._deleted(claim, replace(attempt, action="applied", detail="PlanetScale answered 404 and no "
                                                                                  "longer lists the policy"),
                                 "Applied (PlanetScale answered 404, and no longer lists the policy).")
        return self._fail(request, by, f"PlanetScale answered 404 to the deletion but still lists the policy, so it "
                                       f"was not deleted. {exc.user_message}", claim=claim)

    def _deleted(self, claim: Claim, record: AuditEvent, how: str = "Applied.") -> Outcome:
        return self._landed(claim, record, how)

    def _found_as_asked(self, claim: Claim, by: str, fresh: BackupPolicy) -> Outcome:
        """A change whose policy, read again before its PATCH was sent again, holds the values asked: applied."""
        after = fresh.model_dump()
        note = "PlanetScale held the values asked when the policy was read again before the PATCH was sent again"
        return self._landed(claim, request_event("applied", claim.request, by, after=after, detail=note),
                            "Applied (PlanetScale holds the values asked).", fresh, after=after)

    def _refused_but_held(self, claim: Claim, by: str, db: DatabaseRef, exc: PlanetScaleError) -> Outcome | None:
        """A PATCH PlanetScale refused (4xx) may have landed still (a proxy's answer after the write, a 4xx to the
        retry of one that timed out): the policy read again under the lease, applied if it holds the values asked;
        None, for the refusal to be told as answered, otherwise."""
        request = claim.request
        if not exc.definite or isinstance(exc, NotSent) or request.kind is not ChangeKind.UPDATE \
                or not self._hold(claim):
            return None
        try:
            fresh = self._stored_policy(db, request.policy_id)
        except (PolicyNotFound, PlanetScaleError):
            return None
        if not all(fresh.field_value(f) == v for f, v in request.changes.items()):
            return None
        after, answered = fresh.model_dump(), f"PlanetScale answered {exc.status or 'a refusal'}"
        note = f"{answered} to the PATCH and held the values asked when the policy was read again"
        return self._landed(claim, request_event("applied", request, by, after=after, detail=note),
                            f"Applied ({answered}, and holds the values asked).", fresh, after=after)

    def _settle_lifecycle(self, claim: Claim, by: str, why: str, answered: bool) -> Outcome:
        """A POST or DELETE whose outcome is unknown (or a crash after it was sent): what PlanetScale lists now
        decides. A creation landed if a policy of its name is listed (none was when it was judged, under this
        lease); a deletion, if its policy is not."""
        request = claim.request
        db = DatabaseRef(request.organization, request.database)
        try:
            listed = self.policies.list_policies(db)
        except PlanetScaleError as exc:
            if self.clock() - self._sent_at(request) > self.access.rules.expire_after_seconds:
                return self._fail(request, by, f"whether PlanetScale carried it out could not be confirmed: "
                                               f"{exc.user_message}", claim=claim)
            self._move(request.id, [S.APPLYING], S.APPLYING, claim=claim, detail=f"unconfirmed: {why}")
            return Outcome(OutcomeKind.QUEUED, f"PlanetScale did not confirm the change ({why}) and cannot be read "
                                               "right now; the bot checks again shortly and the message will show "
                                               "the result.", request)
        confirmed = f"confirmed by reading the policies after: {why}"
        record = request_event("applied", request, by, detail=confirmed)
        if request.kind is ChangeKind.CREATE:
            made = next((p for p in listed if self._made_by_send(p, request)), None)
            if made is not None:
                return self._created(claim, made, record, "Applied (confirmed by reading the policies again).")
        elif all(p.id != request.policy_id for p in listed):
            return self._deleted(claim, record, "Applied (confirmed by reading the policies again).")
        if not answered and self.clock() - self._sent_at(request) < self.lease_seconds:
            self._move(request.id, [S.APPLYING], S.APPLYING, claim=claim, detail=f"unconfirmed: {why}")
            return Outcome(OutcomeKind.QUEUED, f"PlanetScale did not confirm the change ({why}) and does not show "
                                               "it yet; the bot checks again shortly and the message will show the "
                                               "result.", request)
        return self._fail(request, by, f"{why} {NOT_SHOWN}", claim=claim)

    def _made_by_send(self, policy: BackupPolicy, request: ChangeRequest) -> bool:
        """Whether a policy can be the one the creation's POST made: one holding every value it sent (not one
        made by hand under its name and target with other settings), not one listed when it was judged, nor one
        PlanetScale says was created before the POST was sent (a policy renamed to that name in the dashboard
        meanwhile); one whose creation time cannot be read is taken, as before."""
        if any(policy.field_value(f) != v for f, v in request.changes.items()):
            return False
        known = DatabaseFacts.of(request.facts)
        if known is not None and any(i == policy.id for i, _, _ in known.policies):
            return False
        try:
            made = parse_time(policy.created_at).timestamp()
        except ValueError:
            return True
        return made >= self._sent_at(request) - CLOCK_MARGIN_SECONDS


def unsendable(exc: ValidationError) -> str:
    """Why a revert may not be asked when what it would bring back is a value the bot never sends (one given in
    the dashboard, e.g. a name past the bot's length): the field and its bound."""
    first = field_problems(exc)[0]
    return (f"This change cannot be reverted by the bot: the value it would bring back for `{first.path or 'a value'}` "
            f"is one the bot does not send ({first.message}). Nothing was asked or sent; set it in PlanetScale, or "
            "ask a change with a value the bot takes.")


def restored_name_refusal(original: ChangeRequest) -> str | None:
    """Why reverting `original` may not be asked, when it would bring back a name holding a character the bot
    refuses in names (a name given in the dashboard): None when it may."""
    restores = original.kind is ChangeKind.DELETE or (original.kind is ChangeKind.UPDATE and "name" in original.changes)
    name = str(original.before.get("name") or "") if restores else ""
    found = invisible_character(name) or control_character(name) or \
        (first_unseen(name.strip() or name) if name and not shows_something(name) else None)
    if found is None:
        return None
    return (f"This change cannot be reverted by the bot: the name it would bring back holds an invisible or control "
            f"character ({found}), which the bot refuses in names so that one name cannot pass for another. "
            "Nothing was asked or sent; rename or recreate the policy with a plain name.")

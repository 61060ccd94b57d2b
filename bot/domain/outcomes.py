"""What a step of the change path did, in facts the doors render: the outcome's kind, the words for the person
who acted, the request as it now stands; and the audit entries and wordings every room shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain import naming
from bot.domain.approval_groups import assign
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeKind, ChangeRequest, RequestState
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts, Estimate, estimate
from bot.domain.group_directory import DirectoryError
from bot.domain.guardrails import Demand
from bot.domain.judge import Verdict
from bot.domain.policy import (
    BackupPolicy,
    ChangeRejected,
    PolicyUpdate,
    Problem,
    describe_every,
    hours,
    resulting_values,
)
from bot.domain.ports import NotSent, PlanetScaleError
from bot.domain.reading import PolicyNotFound

SYSTEM = "backup-bot"
# The notice claimed once a pending request's approvers are all gone (Verdict.nobody_left).
NOBODY_LEFT = "nobody-left"
# Its thread note and its requester's DM, each claimed once Slack took it (or refused it for good).
NOBODY_LEFT_SAID = (f"{NOBODY_LEFT}:thread", f"dm:{NOBODY_LEFT}")

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
    NOBODY_LEFT = "nobody_left"  # nobody left could give a pending request's approvals still needed (once)


# The kinds after which the request's message must be shown again.
REQUEST_MOVED = frozenset({OutcomeKind.REQUESTED, OutcomeKind.APPLIED, OutcomeKind.COUNTED, OutcomeKind.WAITING,
                           OutcomeKind.CONFLICT, OutcomeKind.NO_LONGER_ALLOWED, OutcomeKind.FAILED,
                           OutcomeKind.REJECTED, OutcomeKind.CANCELLED, OutcomeKind.EXPIRED,
                           OutcomeKind.INVALID, OutcomeKind.CLOSED, OutcomeKind.QUEUED})


# A closed request's end as the kind of the step that ended it, to tell it again.
ENDED_AS = {RequestState.APPLIED: OutcomeKind.APPLIED, RequestState.FAILED: OutcomeKind.FAILED,
            RequestState.REJECTED: OutcomeKind.REJECTED, RequestState.CANCELLED: OutcomeKind.CANCELLED,
            RequestState.EXPIRED: OutcomeKind.EXPIRED}


@dataclass(frozen=True)
class ChangePlan:
    db: DatabaseRef
    before: BackupPolicy  # a creation's: the policy as it would be made (planned_policy)
    update: PolicyUpdate  # a creation's: the whole POST body; a deletion's: empty
    reason: str | None
    # False when the bot wrote the reason (a revert): it does not count as the reason a guardrail's override asks.
    reason_by_person: bool = True
    kind: ChangeKind = ChangeKind.UPDATE
    facts: DatabaseFacts | None = None

    @property
    def after_values(self) -> dict[str, Any]:
        return resulting_values(self.before, self.update)

    @property
    def estimate(self) -> Estimate:
        """Backups kept at once and their storage, before → after."""
        return change_estimate(self.kind, self.before.model_dump(), self.after_values, self.facts)


def change_estimate(kind: ChangeKind, before: dict[str, Any], after: dict[str, Any],
                    facts: DatabaseFacts | None) -> Estimate:
    return estimate(None if kind is ChangeKind.CREATE else before, None if kind is ChangeKind.DELETE else after,
                    facts)


def request_estimate(request: ChangeRequest) -> Estimate:
    if request.kind is ChangeKind.UPDATE and request.state is RequestState.APPLIED and request.after:
        return change_estimate(request.kind, applied_before(request), request.after, DatabaseFacts.of(request.facts))
    return change_estimate(request.kind, request.before, after_values(request), DatabaseFacts.of(request.facts))


def applied_before(request: ChangeRequest) -> dict[str, Any]:
    """An applied update's policy as it was when its PATCH left: as PlanetScale answered it, but the fields sent,
    which held their asked values (judged so under the lease), and the day and week a frequency sent moves. A
    field not sent may have changed in PlanetScale since the ask (a frequency, a day): it is told as it is, never as
    this change's."""
    assert request.after is not None
    sent = [*request.changes]
    if {"frequency_value", "frequency_unit"} & set(sent):  # its day and week, cleared by PlanetScale, were its own
        sent += ["schedule_day", "schedule_week"]
    return {**request.after, **{f: request.before.get(f) for f in sent}}


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
    facts: DatabaseFacts | None = None  # for READY: what a form's preview estimates the policy's storage from
    # Who has approved the request, when the step read it (an approval): shown without reading it again.
    approved_by: tuple[str, ...] | None = None
    # For NOBODY_LEFT: the groups (or the rule's approvers) with nobody left to give the approvals still needed.
    nobody_left: tuple[str, ...] = ()
    demand: Demand | None = None  # for REFUSED by the guardrails: what they ask, bound by bound
    # For WAITING: a change asked without approvals, judged again by the sweep, now asks for some.
    asks_approval: bool = False
    # For FAILED: PlanetScale refused the write unsent as rate limited (429, or the bot's own budget spent), as it
    # would the next one now.
    rate_limited: bool = False
    # For QUEUED: its database's policies could not be read under its lease for a moment (a 5xx, a 429, no answer),
    # as they would not be for another of its policies now.
    unread_for_now: bool = False
    # PlanetScale gave no answer at all (connection refused, timed out) to its read, its write or the read that
    # settles an unanswered write: another policy's call now would only pay its tries too.
    unreachable: bool = False

    @property
    def request_moved(self) -> bool:
        return self.request is not None and self.kind in REQUEST_MOVED


class StepUntold(Exception):
    """A step that moved its request (or bulk change), whose telling then failed (the database dropped its
    connection): where it stands is known, `stands` says it, and the sweep tells it in its places."""

    def __init__(self, stands: str, waiting: bool = False):
        super().__init__(stands)
        self.stands = stands
        self.waiting = waiting  # for approval: the sweep posts no request, and its approvers' lists show it


WHAT_KIND = {ChangeKind.UPDATE: "change to", ChangeKind.CREATE: "creation of", ChangeKind.DELETE: "deletion of"}


@contextmanager
def approval_kept(what: str) -> Iterator[None]:
    """What follows an approval on the record (`what`, e.g. "the bulk change “…” of acme"): a failure there is raised
    as StepUntold, saying the approval is recorded, rather than that nothing was done; PlanetScale's, the
    directory's and the lookup's own failures, and a StepUntold of the step itself, keep their words (`explain`)."""
    try:
        yield
    except (StepUntold, PlanetScaleError, PolicyNotFound, DirectoryError):
        raise
    except Exception as exc:
        raise StepUntold(f"Your approval of {what} is recorded") from exc


@contextmanager
def telling(outcome: Outcome) -> Iterator[None]:
    """Telling a step: a failure after the step moved its request is raised as StepUntold, so that the person
    hears where it stands rather than that nothing was done."""
    try:
        yield
    except Exception as exc:
        request = outcome.request
        if request is None or not outcome.request_moved:
            raise
        raise StepUntold(f"The {WHAT_KIND[request.kind]} the backup policy “{naming.outside(request.policy_name)}” "
                         f"of {request.organization}/{request.database} is {describe_state(request)}",
                         waiting=request.state is RequestState.PENDING) from exc


def explain(exc: BaseException, reference: str | None = None) -> str:
    """One failure in the words of the person who asked: what happened and what to do. `reference` is where an
    unexpected failure can be found in the log (a request ID)."""
    if isinstance(exc, PlanetScaleError | PolicyNotFound):
        return exc.user_message
    where = f" under request `{reference}`" if reference else ""
    if isinstance(exc, StepUntold):
        then = ("its approvers find it with `/backup-policy pending` and on their App Home" if exc.waiting else
                "the bot's sweep tells it there shortly")
        return (f"{exc.stands}, but the bot failed before it finished: its messages may not show it yet, and {then}. "
                f"The error is in its log{where}.")
    if isinstance(exc, ChangeRejected):
        return "Nothing was sent to PlanetScale:\n" + "\n".join(f"• {p.message}" for p in exc.problems)
    if isinstance(exc, DirectoryError):
        return f"Your access could not be checked, so nothing was done: {exc}."
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


def last_of_target(before: BackupPolicy, after_target: str | None, facts: DatabaseFacts | None,
                   database: str) -> list[str]:
    """A deletion (`after_target` None), or a move out of its target, of the last policy of that target the
    database has (as read when asked): worth a second look even where no `min_policies` floor refuses it."""
    if facts is None or not facts.policies or after_target == before.target or facts.count(before.target) != 1:
        return []
    return [f"leaves {database} with no {before.target} policy"]


def lifecycle_risks(kind: ChangeKind, policy: BackupPolicy) -> list[str]:
    """What makes a creation or a deletion worth a second look, in words."""
    found = ["production backups"] if policy.target == "production" else []
    if kind is ChangeKind.DELETE:
        found.append("deletes the policy: it takes no more backups")
    else:
        found.append("a new schedule: its backups are billed as storage beyond the plan")
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


# Why a request whose stored policy (`before`) no policy matches ends: its row damaged in the database.
POLICY_DAMAGED = "the policy stored with this request holds values no policy has (damaged in the bot's database)"


def stored_policy(request: ChangeRequest | dict[str, Any]) -> BackupPolicy | None:
    """The policy a request (or a bulk change's policy: its `before`) was asked on; None when its row was damaged in
    the database to values no policy has."""
    try:
        return BackupPolicy.model_validate(request if isinstance(request, dict) else request.before)
    except (ValueError, TypeError):
        return None


def after_values(request: ChangeRequest) -> dict[str, Any]:
    before = BackupPolicy.model_validate(request.before)
    try:
        update = PolicyUpdate(**request.changes)
    except (ValueError, TypeError):  # damaged in the database (the judge ends such a request): shown unchanged
        update = PolicyUpdate()
    return resulting_values(before, update)


def describe_state(request: ChangeRequest) -> str:
    by = f" by {naming.person(request.decided_by)}" if request.decided_by and request.state in (
        RequestState.REJECTED, RequestState.CANCELLED) else ""
    return {RequestState.PENDING: "waiting for approval",
            RequestState.APPROVED: "approved and about to be applied",
            RequestState.APPLYING: "being applied", RequestState.APPLIED: "applied", RequestState.FAILED: "failed",
            RequestState.REJECTED: f"rejected{by}", RequestState.CANCELLED: f"cancelled{by}",
            RequestState.EXPIRED: "expired"}[request.state]




def waiting_detail(judged: Verdict) -> str:
    parts = [f"the access rules and guardrails now ask for {judged.needed} "
             f"approval{'s' if judged.needed != 1 else ''}; "
             f"{len(judged.counted)} count{'s' if len(judged.counted) == 1 else ''}, so {judged.missing} more "
             f"{'is' if judged.missing == 1 else 'are'} needed"]
    if judged.owed:
        parts.append(f"still missing: {owed_text(judged.owed)}")
    if judged.not_counted:
        parts.append("no longer counted: " + ", ".join(naming.person(a) for a in judged.not_counted)
                     + " (the rules no longer let them approve)")
    return "; ".join(parts)


def nobody_left_detail(judged: Verdict) -> str:
    """The audit trail's words for a pending request nobody left could complete (Verdict.nobody_left)."""
    who = naming.principals(judged.nobody_left or ())
    return (f"nobody left could give the {judged.missing} approval{'s' if judged.missing != 1 else ''} still "
            f"needed (none left in {who} who may approve it); it waits, in case someone is added, until it expires "
            "or is cancelled")


def owed_text(owed: Sequence[tuple[str, int]]) -> str:
    """`1 from @security`: a group's handle is written as the rule writes it."""
    return ", ".join(f"{n} from {group}" for group, n in owed)


def group_progress(request: ChangeRequest, approved_by: Sequence[str],
                   member_of: Callable[[str, str], bool]) -> list[tuple[str, int, list[str]]]:
    """For showing a request: each group it asks approvals from, how many, and who counts for it so far."""
    wanted = list((request.approvals_from or {}).items())
    placed = assign([a for a in approved_by if a != request.requester], wanted, member_of)
    return [(group, count, [a for a, g in placed.items() if g == group]) for group, count in wanted]


def approval_note(request: ChangeRequest, by: str) -> str | None:
    """Who approved the change being sent, for its audit entries: the person whose approval decided it, also
    when the sweep sends it later (the bot approves nothing); None when it needed no approval."""
    approver = request.decided_by or by
    return None if approver in (request.requester, SYSTEM) else f"approved by {naming.person(approver)}"


class JudgedAgain(NotSent):
    """Kept unsent by the send's fence: judged again after its write waited, on the policy read again under the
    lease, the change no longer applies; `outcome` moves the request as that verdict asks."""

    def __init__(self, outcome: Callable[[], Outcome | None],
                 why: str = "judged again before it was sent, the change no longer applies") -> None:
        super().__init__(why)
        self.outcome = outcome


def taken_over(request: ChangeRequest) -> Outcome:
    """The lease ran out while the change was judged: nothing was sent, and the sweep judges it again."""
    return Outcome(OutcomeKind.CLOSED, "Nothing was sent: this change took too long to judge and the sweep took it "
                                       "over; it judges it again.", request)

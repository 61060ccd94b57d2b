"""The judge: one pure function from what is known about a change to what may be done with it.

No I/O here. The doors look up what the judge needs first (the rules as one version, the policy, the request,
its approvals, and the directory facts: group members and PlanetScale roles, where a look-up that failed is
`Unchecked`, not "no"), then act on the verdict: apply; wait for N more approvals (from which groups); refuse,
with the reason in words; or cannot tell yet (a look-up failed: nothing is sent and nothing is closed).

A move between targets is judged under the rule of each target: the requester must be an editor under both,
an approver counts only if both rules let them approve, and the request waits for what every rule asks (the
most approvals any asks, and each group any asks, one person filling one group's place). Who may do what under
the rules is decided in bot/domain/judge_access.py, the one place the doors' `AccessControl` asks it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from bot.domain.access_rules import AccessRules, Action
from bot.domain.approval_groups import assign, missing
from bot.domain.change_requests import ChangeKind, ChangeRequest
from bot.domain.costs import DatabaseFacts, unread_words
from bot.domain.field_problems import field_problems
from bot.domain.guardrails import Demand, demand
from bot.domain.guardrails import judge as guardrails_judge
from bot.domain.judge_access import DirectoryFacts as DirectoryFacts  # as the judge's callers know them
from bot.domain.judge_access import Unchecked as Unchecked
from bot.domain.judge_access import active_of, approvers_of, deactivated, decide, is_group, is_named
from bot.domain.judge_access import approvals_asked as approvals_asked
from bot.domain.naming import outside, principals
from bot.domain.naming import person as named_person
from bot.domain.policy import (
    EDITABLE_FIELDS,
    BackupPolicy,
    PolicyUpdate,
    Problem,
    check_change,
    check_new,
    name_key,
)

# The fields that make one setting together: a change to one of them means what it means with the other.
ONE_SETTING = {"retention_value": ("retention_value", "retention_unit"),
               "retention_unit": ("retention_value", "retention_unit"),
               "frequency_value": ("frequency_value", "frequency_unit"),
               "frequency_unit": ("frequency_value", "frequency_unit")}


class Stage(StrEnum):
    ASKING = "asking"  # the policy as just read; no request yet
    APPROVING = "approving"  # a pending request, on the policy as it was requested (nothing read)
    APPLYING = "applying"  # the policy as read under the request's lease


class VerdictKind(StrEnum):
    APPLY = "apply"
    WAIT = "wait"
    REFUSE = "refuse"
    CANNOT_TELL = "cannot_tell"


class Refusal(StrEnum):
    MOVED = "moved"  # the policy moved in PlanetScale since the request
    INVALID = "invalid"  # the change does not hold on the policy
    NOT_ALLOWED = "not_allowed"  # the access rules refuse it
    GUARDRAIL = "guardrail"  # the guardrails refuse it
    NO_APPROVERS = "no_approvers"  # nobody but the requester could give the approvals it needs


@dataclass(frozen=True)
class Asked:
    """The change as asked: by whom, where, on what, with which reason."""

    organization: str
    database: str
    requester: str
    channel: str
    before: Mapping[str, Any]
    changes: Mapping[str, Any]
    reason: str | None
    reason_by_person: bool = True
    # A creation's `before` is the policy as it would be made, and its `changes` the whole body of the POST; a
    # deletion's `changes` are empty.
    kind: ChangeKind = ChangeKind.UPDATE

    @classmethod
    def of(cls, request: ChangeRequest) -> Asked:
        return cls(request.organization, request.database, request.requester, request.channel, request.before,
                   request.changes, request.reason, request.reason_by_person, request.kind)

    @property
    def targets(self) -> list[str]:
        return [str(self.before["target"]), str(self.changes.get("target", self.before["target"]))]


@dataclass(frozen=True)
class Snapshot:
    stage: Stage
    rules: AccessRules
    policy: BackupPolicy
    asked: Asked
    approvals: tuple[str, ...]
    directory: DirectoryFacts
    # The database's policies and the estimate's basis (None: not known at this stage, so `min_policies` and
    # `max_storage` wait for a stage that knows them).
    facts: DatabaseFacts | None = None
    # Who changed the policy since the request, where the bot knows it (its own other change); else PlanetScale.
    moved_by: str | None = None


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    reason: str = ""
    refusal: Refusal | None = None
    problems: tuple[Problem, ...] = ()
    needed: int = 0
    counted: tuple[str, ...] = ()
    not_counted: tuple[str, ...] = ()
    # On an apply verdict: the counted approvals that decided it, the first in the order given that together meet
    # the demand (those after them are more than it asks).
    deciding: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()  # the principals who may approve, as the rules write them
    groups: tuple[tuple[str, int], ...] = ()
    owed: tuple[tuple[str, int], ...] = ()
    guardrails: tuple[str, ...] = ()  # each guardrail bound the change meets or breaks, in words
    overridden: tuple[str, ...] = ()  # each broken guardrail it overrides, in words
    rule_where: str = "the access rule"
    # On a wait verdict for a pending request: nobody left in the directory could give the approvals still needed
    # (not "could not be checked"): the groups that owe them with nobody left, or the rule's approvers when its
    # count alone is short. None: someone could, or who could is not known.
    nobody_left: tuple[str, ...] | None = None
    demand: Demand | None = None  # on a guardrail refusal: what the guardrails ask, bound by bound
    # On a wait verdict: people not looked up in Slack whose activity decides whether anyone is left to approve
    # (counted as active meanwhile): look them up and judge again.
    look_up: tuple[str, ...] = ()

    @property
    def missing(self) -> int:
        """Approvals still needed: what the groups still owe, and at least enough to reach the count."""
        return max(0, sum(n for _, n in self.owed), self.needed - len(self.counted))


def _approving(s: Snapshot) -> Callable[[str], bool | Unchecked]:
    """Whether each approver's approval may count: the judge's decision to approve, never the requester's, never
    a member's Slack deactivated (one not looked up counts)."""
    a = s.asked
    may_approve = approvers_of(s.rules, s.directory, a.organization, a.database, a.targets, a.channel)

    def approving(approver: str) -> bool | Unchecked:
        may = False if approver == a.requester else may_approve(approver)
        active = active_of(approver, s.directory) if may is True else may
        return True if active is None else active
    return approving


def _member_of(facts: DirectoryFacts) -> Any:
    def member_of(user: str, group: str) -> bool:
        found = is_named(user, [group], facts)
        if isinstance(found, Unchecked):
            raise _Unknown(found)
        return found
    return member_of


class _Unknown(Exception):
    def __init__(self, unchecked: Unchecked):
        super().__init__(unchecked.why)
        self.unchecked = unchecked


def _refused(exc: Exception) -> str:
    """What in a stored change this release refuses, by field, in pydantic's words (a value's text left out: it
    may hold what cannot be shown)."""
    if not isinstance(exc, ValidationError):
        return "fields no policy has"
    return "; ".join(f"{problem.path or 'value'}: {problem.message}" for problem in field_problems(exc)[:3])


def judge(s: Snapshot) -> Verdict:
    """The verdict on a change, from the snapshot alone."""
    a = s.asked
    try:
        update = PolicyUpdate(**a.changes)
    except (ValueError, TypeError) as exc:  # a request an older release took, or whose row was damaged: ended
        why = (f"the change stored with this request holds values no policy takes ({_refused(exc)}: taken by an "
               "older release of the bot, or damaged in its database)")
        # Whoever closes a pending request says that nothing was sent (changes.py `_close_pending`).
        return Verdict(VerdictKind.REFUSE, f"{why}. Nothing was sent." if s.stage is Stage.APPLYING else why,
                       Refusal.INVALID, problems=(Problem("", why),))
    later = s.stage is not Stage.ASKING
    if s.stage is Stage.APPLYING:
        moved = _moved(s)
        if moved:
            return Verdict(VerdictKind.REFUSE, moved, Refusal.MOVED)
    requester = decide(s.rules, s.directory, a.requester, Action.CHANGE, a.organization, a.database, a.targets,
                       a.channel)
    if isinstance(requester, Unchecked):
        return Verdict(VerdictKind.CANNOT_TELL, f"the requester's access could not be checked just now "
                                                f"({requester.why})" if later else
                       f"Your access could not be checked, so nothing was done: {requester.why}.")
    if not requester.allowed:
        return Verdict(VerdictKind.REFUSE, f"under the access rules as they are now, {named_person(a.requester)} "
                                           f"may no longer make this change: {requester.reason}" if later
                       else requester.reason, Refusal.NOT_ALLOWED)
    gone = _requester_gone(s)
    if gone is not None:
        return gone
    if a.kind is ChangeKind.DELETE and s.policy.required:
        why = (f"“{outside(s.policy.name)}” is a required system policy, which PlanetScale never deletes: change its "
               "schedule instead")
        return Verdict(VerdictKind.REFUSE, why, Refusal.INVALID, problems=(Problem("", why),))
    if s.stage is not Stage.APPROVING:
        problems = tuple(_problems(s, update))
        if problems:
            why = "; ".join(p.message for p in problems)
            return Verdict(VerdictKind.REFUSE, f"the change no longer holds against the policy as it is now: "
                                               f"{why}. Nothing was sent." if later else why, Refusal.INVALID,
                           problems=problems)
    base = dict(a.before) if s.stage is Stage.APPROVING else s.policy.model_dump()
    after = None if a.kind is ChangeKind.DELETE else {**base, **a.changes}
    unread = _storage_unread(s, after) or _floor_unread(s, base, after)
    if unread:
        return Verdict(VerdictKind.CANNOT_TELL, unread)
    guarded = demand(guardrails_judge(s.rules.guardrails, a.organization, a.database, base, after, s.facts),
                     a.reason if a.reason_by_person else None)
    if guarded.refusal:
        return Verdict(VerdictKind.REFUSE, f"under the guardrails as they are now, {guarded.refusal}" if later
                       else guarded.refusal, Refusal.GUARDRAIL, demand=guarded)
    needed = max(requester.approvals, guarded.approvals)
    shown = tuple(guarded.verdict.summary())
    overridden = tuple(f"overrides {c.guardrail.where}: {c.message}" for c in guarded.verdict.broken)
    where = requester.rule.where if requester.rule else "the access rule"
    groups = requester.approvals_from
    base_verdict = Verdict(VerdictKind.APPLY, needed=needed, approvers=requester.approvers, groups=groups,
                           guardrails=shown, overridden=overridden, rule_where=where)
    if not needed:
        return base_verdict
    counted: list[str] = []
    not_counted: list[str] = []
    may_approve = _approving(s)
    for approver in dict.fromkeys(s.approvals):
        may = may_approve(approver)
        if isinstance(may, Unchecked):
            return Verdict(VerdictKind.CANNOT_TELL, f"{named_person(approver)}'s approval could not be checked "
                                                    f"just now ({may.why})")
        (counted if may else not_counted).append(approver)
    try:
        owed = tuple(missing(groups, assign(counted, groups, _member_of(s.directory))))
    except _Unknown as exc:
        return Verdict(VerdictKind.CANNOT_TELL, f"the approvers' groups could not be checked just now "
                                                f"({exc.unchecked.why})")
    judged = Verdict(VerdictKind.APPLY, needed=needed, counted=tuple(counted), not_counted=tuple(not_counted),
                     approvers=requester.approvers, groups=groups, owed=owed, guardrails=shown,
                     overridden=overridden, rule_where=where,
                     deciding=() if owed else _deciding(counted, needed, groups, s.directory))
    if s.stage is Stage.ASKING:
        nobody = _nobody_could_approve(s, judged)
        if nobody:
            return Verdict(VerdictKind.REFUSE, nobody, Refusal.NO_APPROVERS)
    if judged.missing:
        return Verdict(VerdictKind.WAIT, needed=needed, counted=judged.counted, not_counted=judged.not_counted,
                       approvers=judged.approvers, groups=judged.groups, owed=owed, guardrails=shown,
                       overridden=overridden, rule_where=where,
                       nobody_left=_nobody_left(s, judged) if s.stage is Stage.APPROVING else None,
                       look_up=_to_look_up(s, judged) if s.stage is not Stage.APPLYING else ())
    return judged


def _requester_gone(s: Snapshot) -> Verdict | None:
    """A change whose requester Slack has deactivated stands no more (one from a session left open, a queued one,
    a click on it later). Slack sent the asking itself: a look-up that failed then refuses nothing."""
    active = active_of(s.asked.requester, s.directory)
    if isinstance(active, Unchecked) and s.stage is not Stage.ASKING:
        return Verdict(VerdictKind.CANNOT_TELL, f"whether Slack still has the requester active could not be "
                                                f"checked just now ({active.why})")
    if active is False:
        return Verdict(VerdictKind.REFUSE, "Your Slack account is deactivated, so nothing was done."
                       if s.stage is Stage.ASKING else f"{named_person(s.asked.requester)} is deactivated in Slack, "
                       "so their request no longer stands", Refusal.NOT_ALLOWED)
    return None


def _deciding(counted: Sequence[str], needed: int, groups: Sequence[tuple[str, int]],
              facts: DirectoryFacts) -> tuple[str, ...]:
    """The first of `counted` that together give `needed` approvals and fill every group (all of them otherwise;
    their groups were looked up already)."""
    for n in range(needed, len(counted)):
        first = counted[:n]
        if not missing(groups, assign(first, groups, _member_of(facts))):
            return tuple(first)
    return tuple(counted)


def _moved(s: Snapshot) -> str | None:
    """Under the lease: what moved since the request, so that the rules that judged it no longer apply."""
    a = s.asked
    if a.kind is ChangeKind.CREATE:
        name = outside(str(a.changes["name"]))
        taken = s.facts.named(str(a.changes["name"])) if s.facts else []
        seen = _seen_one(s, taken)
        if seen:
            return (f"a policy named “{name}” was made in PlanetScale since the request{seen}. Nothing was sent; "
                    "ask again with another name.")
        making = s.facts.making_named(str(a.changes["name"])) if s.facts else []
        if any(_sees(s, t) for t in making):
            return f"{_still_making(str(a.changes['name']), a.database)}. Nothing was sent; ask again after that."
        if taken or making:  # held only by policies the rules hide from the requester: not named, as asked
            return f"“{name}” can no longer be used as a name in {a.database}. Nothing was sent; ask again with " \
                   "another name."
        return None
    where = s.moved_by or "in PlanetScale"
    if s.policy.target != a.before["target"]:
        # Told in the request's channel: a target no rule lets anyone handle there is not named there.
        shown = s.policy.target if s.rules.matching(a.organization, a.database, s.policy.target, a.channel) \
            else "a target not handled in this channel"
        return (f"the policy moved from {a.before['target']} to {shown} {where} since the request, so "
                "the rules that judged it no longer apply. Nothing was sent; ask again.")
    # A deletion is judged on the whole policy: the one asked to go, as it was, is the one that goes. A number
    # and its unit are one setting: approved as "4 weeks → 2 weeks", `retention_value=2` is not sent once the
    # unit became days.
    fields = EDITABLE_FIELDS if a.kind is ChangeKind.DELETE else \
        list(dict.fromkeys(f for c in a.changes for f in ONE_SETTING.get(c, (c,))))
    moved = {f: (a.before[f], s.policy.field_value(f)) for f in fields if s.policy.field_value(f) != a.before[f]}
    if moved:
        # The values are PlanetScale's (any text for a time): set apart as text from outside, shown as written.
        what = ", ".join(f"{f} is now {outside(repr(now))} (was {outside(repr(then))} when requested)"
                         for f, (then, now) in moved.items())
        return (f"the policy changed {where} since the request: {what}. Nothing was sent; ask again against the "
                "current values.")
    return None


def _problems(s: Snapshot, update: PolicyUpdate) -> list[Problem]:
    a = s.asked
    if a.kind is not ChangeKind.CREATE and not s.policy.sendable:
        # PlanetScale's text (any, as no path holds it): set apart as from outside, shown as written.
        return [Problem("", f"its ID “{outside(s.policy.id[:64])}” is not one PlanetScale's paths can hold, so the "
                            "bot cannot send any change to it")]
    if a.kind is ChangeKind.DELETE:
        return []
    if a.kind is ChangeKind.UPDATE:
        # A rename into a taken name is refused, as a creation of it is: two of one name are found by neither.
        renamed = "name" in a.changes and s.facts is not None and bool(s.facts.policies)
        return check_change(s.policy, update) + (_name_taken(s, s.policy.id) if renamed else [])
    return check_new(dict(a.changes)) + (_name_taken(s, None) if s.stage is Stage.ASKING else [])


def _name_taken(s: Snapshot, own: str | None) -> list[Problem]:
    """A new name another policy holds, or reads as (policy.name_key), as its name or as its ID (commands take an
    ID first, and a person types what they read): refused. Held only by policies the rules hide from the
    requester, it is refused without saying why: that a policy holds it would tell them the policy exists."""
    name, where = str(s.asked.changes.get("name")), s.asked.database
    others = [i for i in s.facts.named(name) if i != own] if s.facts else []
    held = [i for i, _, _ in (s.facts.policies if s.facts else ()) if name_key(i) == name_key(name) and i != own]
    seen = _seen_one(s, others)
    if seen:
        return [Problem("name", f"{where} already has a policy named “{outside(name)}”{seen}: choose another name")]
    if _seen_one(s, held):
        return [Problem("name", f"“{outside(name)}” is the ID of another policy of {where}, and commands find a "
                                "policy by its ID first: choose another name")]
    making = s.facts.making_named(name) if s.facts else []
    if any(_sees(s, t) for t in making):
        return [Problem("name", f"{_still_making(name, where)}: choose another name, or see `list` after that")]
    if others or held or making:
        return [Problem("name", f"“{outside(name)}” cannot be used as a name in {where}: choose another name")]
    return []


def _still_making(name: str, where: str) -> str:
    return (f"the bot's creation or rename of a policy to “{outside(name)}” in {where} was not confirmed, and "
            "PlanetScale may still carry it out (up to 15 minutes after it was sent)")


def _sees(s: Snapshot, target: str) -> bool:
    a = s.asked
    seen = decide(s.rules, s.directory, a.requester, Action.READ, a.organization, a.database, [target], a.channel)
    return not isinstance(seen, Unchecked) and seen.allowed


def _seen_one(s: Snapshot, ids: Sequence[str]) -> str:
    """The first of the policies holding a name that the requester may see, as ` (`ID`)`; nothing when they may
    see none of them (a policy whose target the rules hide is never named)."""
    targets = {i: t for i, _, t in (s.facts.policies if s.facts else ())}
    a = s.asked
    for policy_id in ids:
        seen = decide(s.rules, s.directory, a.requester, Action.READ, a.organization, a.database,
                      [targets[policy_id]], a.channel)
        if not isinstance(seen, Unchecked) and seen.allowed:
            return f" (`{policy_id}`)"
    return ""


def _storage_unread(s: Snapshot, after: dict[str, Any] | None) -> str | None:
    """Why a storage bound that covers the change cannot be judged now (its backups could not be read)."""
    if after is None or s.facts is None or not s.facts.unread:
        return None
    a = s.asked
    if any(g.max_storage and g.covers(a.organization, a.database, str(after["target"])) for g in s.rules.guardrails):
        return f"the policy's backups {unread_words(s.facts.unread)} to estimate its storage ({s.facts.unread})"
    return None


def _floor_unread(s: Snapshot, before: dict[str, Any], after: dict[str, Any] | None) -> str | None:
    """Why a floor of policies that the change's leaving covers cannot be judged now (they could not be read)."""
    a = s.asked
    leaving = str(before["target"])
    if s.facts is None or not s.facts.policies_unread or (after is not None and after["target"] == leaving):
        return None
    if any(g.min_policies is not None and g.covers(a.organization, a.database, leaving) for g in s.rules.guardrails):
        return f"the policies of {a.organization}/{a.database} could not be read to count those left in " \
               f"{leaving} ({s.facts.policies_unread})"
    return None


def possible_approvers(s: Snapshot, principals: Sequence[str]) -> list[str] | Unchecked:
    """Everyone `principals` name who could approve this change (the requester never)."""
    people: list[str] = []
    for principal in principals:
        if is_group(principal):
            members = s.directory.members.get(principal, Unchecked(f"{principal} was not looked up"))
            if isinstance(members, Unchecked):
                return members
            people.extend(sorted(members))
        else:
            people.append(principal)
    found = []
    may_approve = _approving(s)
    for person in dict.fromkeys(people):
        may = may_approve(person)
        if isinstance(may, Unchecked):
            return may
        if may:
            found.append(person)
    return found


def _nobody_left(s: Snapshot, judged: Verdict) -> tuple[str, ...] | None:
    """Who has nobody left to give the approvals `judged` still needs, counting those given (see
    Verdict.nobody_left); None when someone could, or when who could is not known."""
    people = possible_approvers(s, judged.approvers)
    return None if isinstance(people, Unchecked) else _short(s, judged, people)


def _short(s: Snapshot, judged: Verdict, people: Sequence[str]) -> tuple[str, ...] | None:
    """Who has nobody among `people` to give the approvals `judged` still needs (see _nobody_left)."""
    try:
        owed = missing(judged.groups, assign(people, judged.groups, _member_of(s.directory)))
    except _Unknown:
        return None
    if owed:
        return tuple(group for group, _ in owed)
    return tuple(judged.approvers) if len(people) < judged.needed else None


def _to_look_up(s: Snapshot, judged: Verdict) -> tuple[str, ...]:
    """The possible approvers not looked up in Slack, where those looked up alone leave nobody to give what
    `judged` still needs (see Verdict.look_up)."""
    people = possible_approvers(s, judged.approvers)
    known = s.directory.active
    if known is None or isinstance(people, Unchecked) or all(p in known for p in people):
        return ()
    return tuple(p for p in people if p not in known) if _short(s, judged, [p for p in people if p in known]) \
        else ()


def _nobody_could_approve(s: Snapshot, judged: Verdict) -> str | None:
    """The refusal for a change whose approvals nobody but its requester could give (None when someone could,
    or when who could is not known)."""
    if not judged.approvers:
        return (f"this change needs {judged.needed} approval(s), and {judged.rule_where} names no approvers to "
                "give them: ask whoever keeps the access file to add some")
    people = possible_approvers(s, judged.approvers)
    if _nobody_left(s, judged) is not None and not isinstance(people, Unchecked):
        gone = deactivated(judged.approvers, s.directory)
        said = f"; {principals(gone[:5])}{f' and {len(gone) - 5} more' if len(gone) > 5 else ''} " \
               f"{'is' if len(gone) == 1 else 'are'} deactivated in Slack" if gone else ""
        return (f"this change needs {judged.needed} approval(s), and nobody but you could give "
                f"{'them' if not people else 'enough of them'} under the access rules as they are "
                f"({principals(judged.approvers)} may approve{said}): ask whoever keeps the access file to name "
                "other approvers")
    return None


def counted(s: Snapshot) -> tuple[str, ...] | Unchecked:
    """The approvals of `s` that count under its rules: for showing a request's progress."""
    found = []
    may_approve = _approving(s)
    for approver in dict.fromkeys(s.approvals):
        may = may_approve(approver)
        if isinstance(may, Unchecked):
            return may
        if may:
            found.append(approver)
    return tuple(found)

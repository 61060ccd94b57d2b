"""The judge's decisions on access under the rules (docs/access-rules.md): may this user do this to the policies
of these targets, here; may they see the database at all. The only place they are decided; no I/O.

They are decided on directory facts looked up before (bot/domain/judge.py's snapshot, or `AccessControl`'s
look-ups in bot/domain/access.py), where a look-up that failed is `Unchecked`, not "no", and a fact nobody looked
up is `NotLookedUp`: a door that looks facts up as they are needed looks that one up and asks again.

The first rule that matches the organization, database, target and channel decides; no matching rule means no
access. A change between targets must pass the rule of each: the most approvals any asks, and each group any asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.access_rules import GROUP_ID, AccessRules, Action, Rule
from bot.domain.naming import channels as channel_names
from bot.domain.naming import outside
from bot.domain.naming import principals as principals_named


@dataclass(frozen=True)
class Unchecked:
    """A directory fact that could not be looked up: why, in words."""

    why: str


@dataclass(frozen=True)
class NotLookedUp(Unchecked):
    """A fact the decision needs that was not looked up: a group's members, or a person's PlanetScale role."""

    group: str | None = None
    role_of: str | None = None


@dataclass(frozen=True)
class DirectoryFacts:
    """Who is in which group (by the principal as the rules write it: `@handle` or `S…`), and each person's
    PlanetScale role in the organization (None: not a member). A key left out counts as not looked up."""

    members: Mapping[str, frozenset[str] | Unchecked]
    roles: Mapping[str, str | Unchecked | None]
    # Whether Slack still has each person active (False: deactivated; a group may still list them). None: nobody's
    # was asked, and everyone counts as active; a person the mapping leaves out was not looked up.
    active: Mapping[str, bool | Unchecked] | None = None


def active_of(person: str, facts: DirectoryFacts) -> bool | Unchecked | None:
    """Whether Slack still has `person` active; None when it was not looked up (True when nobody's was asked)."""
    return True if facts.active is None else facts.active.get(person)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: Rule | None = None
    approvals: int = 0
    reason: str = ""
    approvers: tuple[str, ...] = ()
    approvals_from: tuple[tuple[str, int], ...] = ()  # each group's approvals asked (a change's demand)


def is_group(principal: str) -> bool:
    """Whether the rules' `principal` is a group, as the directory tells one (`@handle` or a group ID)."""
    return principal.startswith("@") or GROUP_ID.fullmatch(principal) is not None


def is_named(user: str, principals: Sequence[str], facts: DirectoryFacts) -> bool | Unchecked:
    """Whether `principals` name `user`, directly or through a group; Unchecked when only a group that could
    not be looked up might (whatever the order the rule lists them in)."""
    unknown: Unchecked | None = None
    for principal in principals:
        if principal == user:
            return True
        if is_group(principal):
            members = _members(principal, facts)
            if isinstance(members, Unchecked):
                unknown = _first_unknown(unknown, members)
            elif user in members:
                return True
    return unknown if unknown is not None else False


def deactivated(principals: Sequence[str], facts: DirectoryFacts) -> list[str]:
    """Those `principals` name, directly or through a group looked up, whom Slack has deactivated."""
    known = facts.active or {}
    named = [p for p in principals if not is_group(p)]
    for group in (p for p in principals if is_group(p)):
        members = facts.members.get(group)
        named += sorted(members) if isinstance(members, frozenset) else []
    return [p for p in dict.fromkeys(named) if known.get(p) is False]


def named_as_needed(user: str, principals: Iterable[str], members: Callable[[str], frozenset[str]]) -> bool:
    """`is_named`, with each group's members got from `members` only when needed: in the order the rules list
    them, none once the user is named directly, none after the group that names them. Each principal is read
    once; whatever `members` raises is the caller's."""
    listed = list(principals)
    if user in listed:
        return True
    return any(user in members(group) for group in dict.fromkeys(p for p in listed if is_group(p)))


def approvers_of(rules: AccessRules, facts: DirectoryFacts, organization: str, database: str,
                 targets: Sequence[str], channel: str) -> Callable[[str], bool | Unchecked]:
    """Whether a person may approve a change between `targets`: `decide(…, Action.APPROVE, …)`'s allowed (or
    its Unchecked), for many people at once: each rule's approvers are read once, not once for each person."""
    naming: list[Callable[[str], bool | Unchecked] | None] = []
    for target in dict.fromkeys(targets):
        rule = rules.matching(organization, database, target, channel)
        naming.append(None if rule is None else _naming(rule.approvers, facts))
        if rule is None:  # refused here: the targets after it are never judged
            break

    def may_approve(user: str) -> bool | Unchecked:
        for names in naming:
            found = False if names is None else names(user)
            if found is not True:
                return found
        return True
    return may_approve


def _naming(principals: Sequence[str], facts: DirectoryFacts) -> Callable[[str], bool | Unchecked]:
    """`is_named` of `principals` for any user, from the principals read once: everyone they name directly or
    through a group looked up, and what any other group leaves unknown."""
    direct = frozenset(principals)
    through: set[str] = set()
    unknown: Unchecked | None = None
    for principal in dict.fromkeys(principals):
        if is_group(principal):
            members = _members(principal, facts)
            if isinstance(members, Unchecked):
                unknown = _first_unknown(unknown, members)
            else:
                through.update(members)
    return lambda user: True if user in direct or user in through else unknown if unknown is not None else False


def _members(group: str, facts: DirectoryFacts) -> frozenset[str] | Unchecked:
    members = facts.members.get(group)
    return NotLookedUp(f"{group} was not looked up", group=group) if members is None else members


def _first_unknown(unknown: Unchecked | None, members: Unchecked) -> Unchecked:
    """The group a decision waits on: the first not looked up yet (it may name them), else the first that failed."""
    if unknown is None or (isinstance(members, NotLookedUp) and not isinstance(unknown, NotLookedUp)):
        return members
    return unknown


def decide(rules: AccessRules, facts: DirectoryFacts, user: str, action: Action, organization: str,
           database: str, targets: Sequence[str], channel: str) -> Decision | Unchecked:
    """Judge under the rule of every target involved (the current one and, for a move, the new one): the first
    refusal (or fact that could not be checked), else what every rule asks together."""
    decisions = []
    for target in dict.fromkeys(targets):
        one = _decide_one(rules, facts, user, action, organization, database, target, channel)
        if isinstance(one, Unchecked) or not one.allowed:
            return one
        decisions.append(one)
    strictest = max(decisions, key=lambda d: d.approvals)
    approvers = tuple(dict.fromkeys(a for d in decisions for a in d.approvers))
    approvals, groups = merged([(d.approvals, d.approvals_from) for d in decisions])
    return Decision(True, strictest.rule, approvals, approvers=approvers, approvals_from=groups)


def merged(demands: Sequence[tuple[int, Sequence[tuple[str, int]]]]) -> tuple[int, tuple[tuple[str, int], ...]]:
    """What several rules ask together (a move is under the rule of each target): the most approvals any asks,
    and each group any asks, so at least the sum of the groups' counts."""
    groups: dict[str, int] = {}
    for _, asked in demands:
        for group, count in asked:
            groups[group] = max(groups.get(group, 0), count)
    return max([n for n, _ in demands] + [sum(groups.values())]), tuple(groups.items())


def approvals_asked(rules: AccessRules, organization: str, database: str, targets: Sequence[str],
                    channel: str) -> int:
    """The approvals the rules alone ask of a change between `targets` (no look-ups: a form's preview); the
    judge says the same of anyone the rules let ask it."""
    matching = [rules.matching(organization, database, t, channel) for t in dict.fromkeys(targets)]
    return merged([(r.approvals, r.approvals_from) for r in matching if r is not None] or [(0, ())])[0]


def _decide_one(rules: AccessRules, facts: DirectoryFacts, user: str, action: Action, organization: str,
                database: str, target: str, channel: str) -> Decision | Unchecked:
    rule = rules.matching(organization, database, target, channel)
    where = f"{target} policies of {organization}/{database}"
    if rule is None:
        elsewhere = rules.covering(organization, database, target)
        if elsewhere:
            channels = sorted({c for r in elsewhere for c in r.channels})
            return Decision(False, reason=f"No rule allows {where} to be handled in this channel: use "
                                          f"{channel_names(channels)}.")
        return Decision(False, reason=f"No access rule covers {where}, so nobody may act on them: ask whoever "
                                      "keeps the bot's access file to add one.")
    role_list = rule.editors if action is Action.CHANGE else rule.approvers if action is Action.APPROVE else \
        [*rule.editors, *rule.approvers]
    named = is_named(user, role_list, facts)
    if isinstance(named, Unchecked):
        return named
    if not named:
        verb = {Action.READ: "see", Action.CHANGE: "change", Action.APPROVE: "approve changes to"}[action]
        who = "editors" if action is Action.CHANGE else "approvers" if action is Action.APPROVE else \
            "editors or approvers"
        return Decision(False, rule, reason=f"You may not {verb} {where}: {rule.where} of the access file lets "
                                            f"only its {who} ({principals_named(role_list)}) do that. Ask one of "
                                            "them, or whoever keeps the access file.")
    change = action is Action.CHANGE
    if change and rule.planetscale_role:
        role = facts.roles.get(user, NotLookedUp("the PlanetScale role was not looked up", role_of=user))
        if isinstance(role, Unchecked):
            return role
        if role is None:
            return Decision(False, rule, reason=f"{rule.where} requires a PlanetScale {rule.planetscale_role} of "
                                                f"{organization}, and your Slack e-mail address is not a member "
                                                f"of {organization} in PlanetScale.")
        if rule.planetscale_role == "admin" and role != "admin":
            # PlanetScale's text: shown as written, never a mention or markup.
            return Decision(False, rule, reason=f"{rule.where} requires a PlanetScale admin of {organization}; you "
                                                f"are a {outside(role[:64])}. Ask an admin of {organization} to make "
                                                "the change, or to approve it.")
    return Decision(True, rule, rule.approvals if change else 0, approvers=tuple(rule.approvers),
                    approvals_from=rule.approvals_from if change else ())


def role_rule(rules: AccessRules, organization: str, database: str, targets: Sequence[str],
              channel: str) -> Rule | None:
    """The rule whose PlanetScale role a change between `targets` is checked against first (the first target's
    that asks for one): the one a role that could not be looked up leaves undecided."""
    for target in dict.fromkeys(targets):
        rule = rules.matching(organization, database, target, channel)
        if rule is not None and rule.planetscale_role:
            return rule
    return None


def sees_database(rules: AccessRules, facts: DirectoryFacts, user: str, organization: str, database: str,
                  channel: str) -> Decision | Unchecked:
    """Before anything is read from PlanetScale: does any rule for this database name the user here?"""
    unknown: Unchecked | None = None
    for rule in rules.covering(organization, database, None):
        if not rule.allows_channel(channel):
            continue
        named = is_named(user, [*rule.editors, *rule.approvers], facts)
        if named is True:
            return Decision(True, rule)
        if isinstance(named, NotLookedUp):  # the first rule that names them decides: it may be this one
            return named
        if isinstance(named, Unchecked):
            unknown = unknown or named
    if unknown is not None:
        return unknown
    return Decision(False, reason=_nobody_names(rules, organization, database, channel))


def _nobody_names(rules: AccessRules, organization: str, database: str, channel: str) -> str:
    covering = rules.covering(organization, database, None)
    if not covering:
        return (f"No access rule covers {organization}/{database}, so nobody may see or change its policies "
                "through this bot: ask whoever keeps the access file.")
    if not any(r.allows_channel(channel) for r in covering):
        channels = sorted({c for r in covering for c in r.channels})
        return f"Policies of {organization}/{database} are handled in {channel_names(channels)}."
    names = sorted({p for r in covering for p in [*r.editors, *r.approvers]})
    return (f"You are not named in the access rules for {organization}/{database}, so you may not see or "
            f"change its policies. The people who may: {principals_named(names)}.")

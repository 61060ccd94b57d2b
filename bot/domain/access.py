"""Who may do what to which policy, from which channel: the decisions under the rules of `access.toml`
(docs/access-rules.md), and their wording.

The first rule that matches the organization, database, target and channel decides; no matching rule means
no access. A change of target is judged under the current target's rule and the new one's, and must pass
both. Rules name Slack user IDs and user groups (`@handle` or `S…` ID), which `GroupDirectory`
(bot/domain/group_directory.py) resolves; the rules are parsed in bot/domain/access_rules.py and read from
their file in bot/domain/access_file.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.domain.access_file import RulesSource
from bot.domain.access_rules import AccessRules, Action, Rule
from bot.domain.group_directory import DirectoryError, GroupDirectory
from bot.domain.naming import channels as channel_names
from bot.domain.naming import principals


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: Rule | None = None
    approvals: int = 0
    reason: str = ""
    approvers: tuple[str, ...] = field(default_factory=tuple)
    approvals_from: tuple[tuple[str, int], ...] = ()


def describe_approvals(count: int, by_group: Iterable[tuple[str, int]] = ()) -> str:
    """`2 approvals`, or `1 approval from @dba-leads and 1 from @security`."""
    parts = [f"{n} from {group}" for group, n in by_group]
    if not parts:
        return f"{count} approval{'s' if count != 1 else ''}"
    first = parts[0].split(" ", 1)
    parts[0] = f"{first[0]} approval{'s' if first[0] != '1' else ''} {first[1]}"
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


RoleLookup = Callable[[str, str], str | None]  # (organization, slack user) -> PlanetScale role or None


class AccessControl:
    """The one question every door asks: may this user do this to this policy, here?"""

    def __init__(self, source: RulesSource, groups: GroupDirectory, planetscale_role: RoleLookup):
        self.source = source
        self.groups = groups
        self.planetscale_role = planetscale_role

    @property
    def rules(self) -> AccessRules:
        return self.source.rules

    def may_see_database(self, user: str, organization: str, database: str, channel: str) -> Decision:
        """Before anything is read from PlanetScale: does any rule for this database name the user here?"""
        here = [r for r in self.rules.covering(organization, database, None) if r.allows_channel(channel)]
        for rule in here:
            if self.groups.is_named(user, [*rule.editors, *rule.approvers]):
                return Decision(True, rule)
        return Decision(False, reason=self._nobody_names(user, organization, database, channel))

    def may_approve(self, user: str, organization: str, database: str, targets: Iterable[str], channel: str) -> bool:
        """`decide(user, Action.APPROVE, …).allowed` without the decision's words and counts: the pending list
        asks it of every group of waiting requests."""
        rules = self.rules
        for target in dict.fromkeys(targets):
            rule = rules.matching(organization, database, target, channel)
            if rule is None or not self.groups.is_named(user, rule.approvers):
                return False
        return True

    def decide(self, user: str, action: Action, organization: str, database: str, targets: Iterable[str],
               channel: str) -> Decision:
        """Judge under the rule of every target involved (the current one and, for a move, the new one)."""
        decisions = [self._decide_one(user, action, organization, database, t, channel)
                     for t in dict.fromkeys(targets)]
        refused = [d for d in decisions if not d.allowed]
        if refused:
            return refused[0]
        # A move meets both rules: the most approvals either asks, and each group either asks.
        groups: dict[str, int] = {}
        for d in decisions:
            for group, count in d.approvals_from:
                groups[group] = max(groups.get(group, 0), count)
        strictest = max(decisions, key=lambda d: d.approvals)
        approvers = tuple(dict.fromkeys(a for d in decisions for a in d.approvers))
        return Decision(True, strictest.rule, max(strictest.approvals, sum(groups.values())), approvers=approvers,
                        approvals_from=tuple(groups.items()))

    def _decide_one(self, user: str, action: Action, organization: str, database: str, target: str,
                    channel: str) -> Decision:
        rule = self.rules.matching(organization, database, target, channel)
        where = f"{target} policies of {organization}/{database}"
        if rule is None:
            elsewhere = self.rules.covering(organization, database, target)
            if elsewhere:
                channels = sorted({c for r in elsewhere for c in r.channels})
                return Decision(False, reason=f"No rule allows {where} to be handled in this channel: use "
                                              f"{channel_names(channels)}.")
            return Decision(False, reason=f"No access rule covers {where}, so nobody may act on them: ask "
                                          f"whoever keeps the bot's access file to add one.")
        role_list = {Action.READ: [*rule.editors, *rule.approvers], Action.CHANGE: rule.editors,
                     Action.APPROVE: rule.approvers}[action]
        if not self.groups.is_named(user, role_list):
            verb = {Action.READ: "see", Action.CHANGE: "change", Action.APPROVE: "approve changes to"}[action]
            who = "editors" if action is Action.CHANGE else "approvers" if action is Action.APPROVE else \
                "editors or approvers"
            return Decision(False, rule, reason=f"You may not {verb} {where}: {rule.where} of the access file "
                                                f"lets only its {who} ({principals(role_list)}) do that. Ask one "
                                                f"of them, or whoever keeps the access file.")
        if action is Action.CHANGE and rule.planetscale_role:
            refusal = self._check_role(user, organization, rule)
            if refusal:
                return Decision(False, rule, reason=refusal)
        change = action is Action.CHANGE
        return Decision(True, rule, rule.approvals if change else 0, approvers=tuple(rule.approvers),
                        approvals_from=rule.approvals_from if change else ())

    def _check_role(self, user: str, organization: str, rule: Rule) -> str | None:
        try:
            role = self.planetscale_role(organization, user)
        except DirectoryError as exc:
            return (f"{rule.where} requires a PlanetScale {rule.planetscale_role} of {organization}, and that "
                    f"could not be checked, so the change is refused: {exc}.")
        if role is None:
            return (f"{rule.where} requires a PlanetScale {rule.planetscale_role} of {organization}, and your "
                    f"Slack e-mail address is not a member of {organization} in PlanetScale.")
        if rule.planetscale_role == "admin" and role != "admin":
            return (f"{rule.where} requires a PlanetScale admin of {organization}; you are a {role}. Ask an "
                    f"admin of {organization} to make the change, or to approve it.")
        return None

    def _nobody_names(self, user: str, organization: str, database: str, channel: str) -> str:
        covering = self.rules.covering(organization, database, None)
        if not covering:
            return (f"No access rule covers {organization}/{database}, so nobody may see or change its policies "
                    "through this bot: ask whoever keeps the access file.")
        if not any(r.allows_channel(channel) for r in covering):
            channels = sorted({c for r in covering for c in r.channels})
            return f"Policies of {organization}/{database} are handled in {channel_names(channels)}."
        names = sorted({p for r in covering for p in [*r.editors, *r.approvers]})
        return (f"You are not named in the access rules for {organization}/{database}, so you may not see or "
                f"change its policies. The people who may: {principals(names)}.")

    def capabilities(self, user: str, channel: str) -> list[Capability]:
        """What this user may do here, per rule that names them: for help, decided by the rules, not by words."""
        found = []
        for rule in self.rules.rules:
            if not rule.allows_channel(channel):
                continue
            may_change = self.groups.is_named(user, rule.editors)
            may_approve = self.groups.is_named(user, rule.approvers)
            if may_change or may_approve:
                found.append(Capability(rule, may_change, may_approve))
        return found


@dataclass(frozen=True)
class Capability:
    """One rule that names a user, and what it lets them do (everyone it names may see)."""

    rule: Rule
    may_change: bool
    may_approve: bool

    def describe(self) -> str:
        rule = self.rule
        scope = (f"{', '.join(rule.organizations)} / {', '.join(rule.databases)}"
                 f" ({', '.join(rule.targets) or 'all targets'})")
        can = []
        if self.may_change:
            can.append("change" + (f" (with {describe_approvals(rule.approvals, rule.approvals_from)})"
                                   if rule.approvals else ""))
        if self.may_approve:
            can.append("approve")
        return f"{scope}: see, {', '.join(can)}"

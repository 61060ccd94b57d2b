"""Who may do what to which policy, from which channel, as every door asks it: the judge's decision
(bot/domain/judge_access.py, the only place access under the rules of `access.toml` is decided), on the Slack
groups and PlanetScale roles looked up here as it needs them, and the words for what could not be looked up.

Rules name Slack user IDs and user groups (`@handle` or `S…` ID), which `GroupDirectory`
(bot/domain/group_directory.py) resolves; the rules are parsed in bot/domain/access_rules.py and read from
their file in bot/domain/access_file.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from bot.domain.access_file import RulesSource
from bot.domain.access_rules import AccessRules, Action, Rule
from bot.domain.group_directory import ANY_HANDLE, ANY_ID, DirectoryError, GroupDirectory, GroupUnreadable, unread_group
from bot.domain.judge_access import (
    Decision,
    DirectoryFacts,
    NotLookedUp,
    Unchecked,
    decide,
    role_rule,
    sees_database,
)
from bot.domain.outcomes import explain
from bot.domain.people_directory import PeopleDirectory


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

    def __init__(self, source: RulesSource, groups: GroupDirectory, planetscale_role: RoleLookup,
                 people: PeopleDirectory | None = None):
        self.source = source
        self.groups = groups
        self.planetscale_role = planetscale_role
        self.people = people  # None: nobody's activity is asked (everyone counts as active)

    def looked_up_again(self) -> None:
        """The groups listed, and people's activity asked, after this call: for a click or a sweep that lets a write
        through on approvals (GroupDirectory.listed_again)."""
        self.groups.listed_again()
        if self.people is not None:
            self.people.looked_up_again()

    def delivered(self, user: str) -> None:
        """Slack just delivered `user`'s request: they are active now (PeopleDirectory.delivered)."""
        if self.people is not None:
            self.people.delivered(user)

    def looked_up_within(self, seconds: float) -> None:
        """The groups and people's activity as Slack answered them in the last `seconds`: for the judge under the
        lease (GroupDirectory.listed_within)."""
        self.groups.listed_within(seconds)
        if self.people is not None:
            self.people.looked_up_within(seconds)

    @property
    def rules(self) -> AccessRules:
        return self.source.rules

    def may_see_database(self, user: str, organization: str, database: str, channel: str) -> Decision:
        """Before anything is read from PlanetScale: does any rule for this database name the user here?"""
        rules = self.rules
        seen = self._looked_up(lambda facts: sees_database(rules, facts, user, organization, database, channel),
                               organization)
        if isinstance(seen, Unchecked):  # no role is asked to see: never so
            raise DirectoryError(seen.why)
        return seen

    def may_approve(self, user: str, organization: str, database: str, targets: Iterable[str], channel: str) -> bool:
        """`decided(user, Action.APPROVE, …).allowed`: the pending list asks it of every group of waiting requests."""
        return self.decided(user, Action.APPROVE, organization, database, targets, channel).allowed

    def decided(self, user: str, action: Action, organization: str, database: str, targets: Iterable[str],
                channel: str) -> Decision:
        """`decide`, where a directory that could not be read is a refusal saying so (fail closed): what every
        door answers, so that each answers a denial one way."""
        try:
            return self.decide(user, action, organization, database, targets, channel)
        except DirectoryError as exc:
            return Decision(False, reason=explain(exc))

    def decide(self, user: str, action: Action, organization: str, database: str, targets: Iterable[str],
               channel: str) -> Decision:
        """The judge's decision (bot/domain/judge_access.py) under the rule of every target involved (the current
        one and, for a move, the new one), on the directory looked up as it needs it."""
        rules, asked = self.rules, list(dict.fromkeys(targets))
        decision = self._looked_up(
            lambda facts: decide(rules, facts, user, action, organization, database, asked, channel), organization)
        if isinstance(decision, Unchecked):  # a PlanetScale role
            rule = role_rule(rules, organization, database, asked, channel)
            where, role = (rule.where, rule.planetscale_role) if rule else ("the access rule", "role")
            return Decision(False, rule, reason=f"{where} requires a PlanetScale {role} of {organization}, and "
                                                f"that could not be checked, so the change is refused: "
                                                f"{decision.why}.")
        return decision

    def _looked_up(self, decided: Callable[[DirectoryFacts], Decision | Unchecked],
                   organization: str) -> Decision | Unchecked:
        """Asks `decided` on the facts looked up so far, looking up each one it needs and was not given (a group
        whose members are needed only when nothing before it names the user). A group that could not be listed
        is a DirectoryError (fail closed, in the doors' words); a role that could not be, the Unchecked returned."""
        # Listed already: the groups cost no call, and one run decides. The look-ups below add to it.
        members = _AsListed(self.groups.listed())
        roles: dict[str, str | Unchecked | None] = {}
        groups_failed: Unchecked | None = None  # Slack lists every group at once: one failure is every group's
        role_failed: Unchecked | None = None
        while True:
            found = decided(DirectoryFacts(members, roles))
            if not isinstance(found, Unchecked):
                return found
            if isinstance(found, NotLookedUp) and found.group is not None:
                try:
                    members.looked_up[found.group] = groups_failed or self.groups.members(found.group)
                except GroupUnreadable as exc:  # listed, that group alone unreadable: the others are known
                    members.looked_up[found.group] = Unchecked(str(exc))
                except DirectoryError as exc:
                    members.looked_up[found.group] = groups_failed = Unchecked(str(exc))
                if groups_failed is None:  # listed now, every group at once: the next run asks for no other
                    members.listing = self.groups.listed()
            elif isinstance(found, NotLookedUp) and found.role_of is not None:
                try:
                    roles[found.role_of] = self.planetscale_role(organization, found.role_of)
                except DirectoryError as exc:
                    roles[found.role_of] = role_failed = Unchecked(str(exc))
            elif found is role_failed:
                return found
            else:
                raise DirectoryError(found.why)

    def capabilities(self, user: str, channel: str) -> list[Capability]:
        """What this user may do here, per rule that names them: for help, decided by the rules, not by words.
        A DirectoryError when none could be found and some rule could not be checked."""
        found, unchecked = self.capabilities_checked(user, channel)
        if unchecked is not None and not found:
            raise DirectoryError(unchecked)
        return found

    def capabilities_as_listed(self, user: str, channel: str) -> list[Capability]:
        """As `capabilities`, on the user groups as listed lately alone, never asking Slack (help's ack): a
        DirectoryError when that listing has gone stale meanwhile."""
        found, unchecked = self.capabilities_checked(user, channel, self.groups.is_named_as_listed)
        if unchecked is not None:
            raise DirectoryError(unchecked)
        return found

    def capabilities_checked(self, user: str, channel: str | None,
                             named: Callable[[str, list[str]], bool] | None = None
                             ) -> tuple[list[Capability], str | None]:
        """What this user may do in `channel` (None: wherever each rule's channels are), per rule that names
        them; and why some rule could not be checked (Slack's groups unread), else None. A rule naming them
        directly counts whatever the groups; one that names them only perhaps, through a group, is left out."""
        found, unchecked = [], None
        for rule in self.rules.rules:
            if channel is not None and not rule.allows_channel(channel):
                continue
            may_change, why_change = self._named(user, rule.editors, named)
            may_approve, why_approve = self._named(user, rule.approvers, named)
            unchecked = unchecked or why_change or why_approve
            if may_change or may_approve:
                found.append(Capability(rule, may_change, may_approve))
        return found, unchecked

    def _named(self, user: str, principals: list[str],
               named: Callable[[str, list[str]], bool] | None = None) -> tuple[bool, str | None]:
        try:
            return (named or self.groups.is_named)(user, principals), None
        except DirectoryError as exc:
            return False, str(exc)


class _AsListed(Mapping[str, "frozenset[str] | Unchecked"]):
    """The groups' members for one decision: those looked up for it, then Slack's listing of every group, in which
    a group it does not hold has nobody (as `GroupDirectory.members` answers) instead of a look-up of its own.
    With no listing (none fresh), a group not looked up is left out: the decision asks for it."""

    def __init__(self, listing: Mapping[str, frozenset[str] | Unchecked]):
        self.looked_up: dict[str, frozenset[str] | Unchecked] = {}
        self.listing = listing

    def __getitem__(self, principal: str) -> frozenset[str] | Unchecked:
        if principal in self.looked_up:
            return self.looked_up[principal]
        if self.listing:
            found = self.listing.get(principal)
            if found is None and (ANY_HANDLE if principal.startswith("@") else ANY_ID) in self.listing:
                return Unchecked(unread_group(principal))  # listed with no readable ID (handle): it may be this one
            return frozenset() if found is None else found
        raise KeyError(principal)

    def __iter__(self) -> Iterator[str]:
        return iter({**self.listing, **self.looked_up})

    def __len__(self) -> int:
        return len({**self.listing, **self.looked_up})


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

"""What the judge is given for a request (bot/domain/applying.py): a snapshot taken now, with the directory looked
up first (each group the rules name, the PlanetScale roles they ask for; a failed look-up kept as Unchecked) and
the policy as PlanetScale holds it now, found by its ID alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.domain.access import AccessControl
from bot.domain.access_rules import GROUP_ID, AccessRules
from bot.domain.change_requests import ChangeKind, ChangeRequest
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.group_directory import DirectoryError
from bot.domain.judge import Asked, DirectoryFacts, Snapshot, Stage, Unchecked, Verdict, judge
from bot.domain.late_creations import still_landing
from bot.domain.outcomes import stored_policy
from bot.domain.policy import BackupPolicy
from bot.domain.ports import ChangeStore, Claim
from bot.domain.reading import PolicyNotFound, PolicyService

PEOPLE_ASKED_AT_MOST = 50  # possible approvers looked up in Slack for one judgement


class Snapshots:
    policies: PolicyService
    access: AccessControl
    store: ChangeStore
    clock: Callable[[], float]

    def _asked_on(self, request: ChangeRequest) -> BackupPolicy | None:
        """The policy the request was asked on; None, its row named as damaged (/healthz), where no policy matches
        what is stored: nothing can be judged or sent on it, so the request is ended."""
        policy = stored_policy(request)
        if policy is None:
            self.store.note_damaged(request.id, "a stored policy (before) no policy matches")
        return policy

    def _facts(self, rules: AccessRules, organization: str, database: str, people: Sequence[str],
               active: Sequence[str] = ()) -> DirectoryFacts:
        """Every group the rules for this database name, the PlanetScale role of `people` when a rule asks for
        one, and whether Slack still has each of `active` active: looked up before judging, a failed look-up kept
        as Unchecked."""
        covering = rules.covering(organization, database, None)
        principals = {p for r in covering for p in [*r.editors, *r.approvers, *(g for g, _ in r.approvals_from)]
                      if p.startswith("@") or GROUP_ID.fullmatch(p)}
        members: dict[str, frozenset[str] | Unchecked] = {}
        for principal in sorted(principals):
            try:
                members[principal] = self.access.groups.members(principal)
            except DirectoryError as exc:
                members[principal] = Unchecked(str(exc))
        roles: dict[str, str | Unchecked | None] = {}
        if any(r.planetscale_role for r in covering):
            for person in dict.fromkeys(people):
                try:
                    roles[person] = self.access.planetscale_role(organization, person)
                except DirectoryError as exc:
                    roles[person] = Unchecked(str(exc))
        return DirectoryFacts(members, roles, self._activity(active))

    def _activity(self, people: Sequence[str], fresh: bool = True) -> dict[str, bool | Unchecked] | None:
        """Whether Slack still has each of `people` active (None where the bot asks nobody's); `fresh=False` for
        possible approvers alone (PeopleDirectory.active)."""
        if self.access.people is None:
            return None
        found: dict[str, bool | Unchecked] = {}
        for person in dict.fromkeys(people):
            try:
                found[person] = self.access.people.active(person, fresh)
            except DirectoryError as exc:
                found[person] = Unchecked(str(exc))
        return found

    def _judge(self, stage: Stage, policy: BackupPolicy, asked: Asked, approvals: Sequence[str],
               facts: DatabaseFacts | None = None, rules: AccessRules | None = None) -> Verdict:
        """The judge's verdict on a snapshot taken now: the rules read once (or as the caller read them to gather
        the facts), the directory looked up first."""
        rules = rules or self.access.rules
        # The requester and the approvals given: someone Slack has deactivated neither asks nor approves.
        directory = self._facts(rules, asked.organization, asked.database, [asked.requester],
                                [asked.requester, *approvals])
        facts = self._landing(rules, DatabaseRef(asked.organization, asked.database), facts, policy.id,
                              naming="name" in asked.changes)
        verdict = judge(Snapshot(stage, rules, policy, asked, tuple(approvals), directory, facts))
        asked_about = 0
        # The possible approvers, as few as it takes to find enough still active: a group of thousands costs a
        # few look-ups, not one for each member.
        while verdict.look_up and directory.active is not None and asked_about < PEOPLE_ASKED_AT_MOST:
            more = verdict.look_up[:max(1, verdict.missing)]
            directory = replace(directory, active={**directory.active, **(self._activity(more, fresh=False) or {})})
            asked_about += len(more)
            verdict = judge(Snapshot(stage, rules, policy, asked, tuple(approvals), directory, facts))
        return verdict

    def _landing(self, rules: AccessRules, db: DatabaseRef, facts: DatabaseFacts | None, judged: str,
                 naming: bool = False) -> DatabaseFacts | None:
        """`facts` with the writes of the bot's that PlanetScale may still carry out (closed as not applied, their
        outcome unknown): a floor counts the policies they delete or move as gone (but for `judged`'s own, the
        policy being judged: its leaving is counted once), and a new name (`naming`) their creations' as taken."""
        floor = facts is not None and bool(facts.policies) and any(g.min_policies is not None
                                                                    for g in rules.guardrails)
        if facts is None or not (floor or naming):
            return facts
        return still_landing(self.store, db, facts, self.clock(), judged)

    def judged(self, stage: Stage, policy: BackupPolicy, asked: Asked, approvals: Sequence[str],
               facts: DatabaseFacts | None = None, rules: AccessRules | None = None) -> Verdict:
        """The door for a change asked or approved elsewhere (a bulk change's policies): the one judge, on a
        snapshot taken now (under `rules` as the caller read them to gather the facts), as for a request."""
        return self._judge(stage, policy, asked, approvals, facts, rules)

    def storage_bounded(self, organization: str, database: str, targets: Sequence[str],
                        rules: AccessRules | None = None) -> bool:
        """Whether a `max_storage` guardrail covers a change landing on one of `targets` (its backups are then
        read to judge it)."""
        return any(g.max_storage and g.covers(organization, database, t)
                   for g in (rules or self.access.rules).guardrails for t in targets)

    def _stored_policy(self, db: DatabaseRef, policy_id: str,
                       listed: list[BackupPolicy] | None = None) -> BackupPolicy:
        """A stored request's policy, as PlanetScale holds it now: by its ID alone, never by a name another policy
        may have taken since (policies are found by ID or by name when asked)."""
        policies = self.policies.list_policies(db) if listed is None else listed
        # Among the policies of its ID alone: another named as that ID in the dashboard makes a person's reference
        # ambiguous, never a stored one.
        own = [p for p in policies if p.id == policy_id]
        if not own:
            raise PolicyNotFound(f"no backup policy in {db} has the ID `{policy_id}` any more (deleted in "
                                 "PlanetScale since)")
        return self.policies.find_policy(db, policy_id, listed=own)

    def _approvers_shown(self, verdict: Verdict) -> list[str]:
        return [self.access.groups.resolve(p) for p in verdict.approvers]

    def _as_judged(self, claim: Claim, verdict: Verdict) -> None:
        """The claimed request as the judge that lets its write leave asks it (the fence's, when it judged it
        again): decided by the last approval counted (none asked now: by its asking)."""
        request = claim.request
        if not (verdict.needed or request.approvals_needed):
            return
        decided = request.decided_by if request.decided_by in verdict.deciding else \
            verdict.deciding[-1] if verdict.deciding else request.requester
        claim.request = replace(
            request, decided_by=decided, approvals_needed=verdict.needed, counted=list(verdict.deciding) or None,
            approvers=self._approvers_shown(verdict), approvals_from=dict(verdict.groups) or None)

    def _named_now(self, claim: Claim, current: BackupPolicy, rules: AccessRules) -> ChangeRequest:
        """The claimed request named as `current`, read under its lease, is named: renamed in PlanetScale since it
        was asked, every outcome names it as it is now. Moved meanwhile to a target its channel does not handle,
        it is hidden there, so its new name is not told there either."""
        request = claim.request
        if request.kind is not ChangeKind.CREATE and current.name != request.policy_name and \
                rules.matching(request.organization, request.database, current.target, request.channel):
            claim.request = replace(request, policy_name=current.name)
        return claim.request

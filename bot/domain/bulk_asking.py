"""A bulk change asked (bot/domain/bulk.py): the policies it names found, each judged by the one judge as it is
asked (those it may not change listed with the reason), and the change stored to wait for what every listed
policy's rules ask together, or applied at once when they ask nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

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
from bot.domain.bulk_costs import DatabaseBases, EstimateReads, bulk_facts
from bot.domain.bulk_finding import Finding, Found, Selection
from bot.domain.change_requests import derived_id
from bot.domain.changes import ChangePath
from bot.domain.commands import DatabaseRef
from bot.domain.group_directory import DirectoryError
from bot.domain.judge import Asked, Refusal, Stage, VerdictKind
from bot.domain.naming import channel as named_channel
from bot.domain.naming import person
from bot.domain.outcomes import explain, last_of_target, risks_of
from bot.domain.policy import PolicyUpdate, resulting_values
from bot.domain.ports import PlanetScaleError

SKIPPED_AS = {Refusal.NOT_ALLOWED: SkipReason.NOT_ALLOWED, Refusal.GUARDRAIL: SkipReason.GUARDRAIL,
              Refusal.INVALID: SkipReason.INVALID, Refusal.NO_APPROVERS: SkipReason.NO_APPROVERS,
              Refusal.MOVED: SkipReason.INVALID}


class Asking(Finding):
    changes: ChangePath
    store: BatchStore

    if TYPE_CHECKING:  # deciding and applying (bot/domain/bulk.py)
        def _approve_and_apply(self, batch: Batch, by: str, approvers: Sequence[str]) -> BatchOutcome: ...

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
        return replace(self._ask_found(user, channel, selection, update, reason, dry_run, retry_of, batch_id, found),
                       hidden_chosen=tuple(found.hidden_chosen))

    def _ask_found(self, user: str, channel: str, selection: Selection, update: PolicyUpdate, reason: str | None,
                   dry_run: bool, retry_of: str | None, batch_id: str | None, found: Found) -> BatchOutcome:
        org = selection.organization
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
            if stored.state is BatchState.PENDING and not stored.approvals_needed:
                # Needing no approval, the click that stored it is approving and applying it now.
                return BatchOutcome(BatchOutcomeKind.CLOSED, f"This retry is already being applied (asked by "
                                                             f"{person(stored.requester)}, it needs no approval): "
                                                             f"{where}", stored)
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
        reads = EstimateReads()  # and all of them within the ask's share
        for database, policy in found.policies:
            if all(policy.field_value(f) == v for f, v in changes.items()):
                skipped.append(Skipped(database, policy.id, policy.name, SkipReason.UNCHANGED,
                                       "it already has these values"))
                continue
            asked = Asked(selection.organization, database, user, channel, policy.model_dump(), changes, reason)
            facts = bulk_facts(bases, self.changes.policies.planetscale, DatabaseRef(selection.organization, database),
                               found.listed.get(database, []), policy, str(changes.get("target", policy.target)), reads)
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
            values = resulting_values(policy, update)
            risks = risks_of(policy, values) + \
                last_of_target(policy, str(values["target"]), facts, database) + list(verdict.overridden)
            planned.append(Planned(database, policy.id, policy.name, policy.model_dump(), verdict.needed,
                                   dict(verdict.groups), risks, facts.to_json()))
            # The next policy of this database is judged on its policies as they would be after this one's change
            # (how many of a target), as it is when they apply.
            after = policy.model_copy(update=update.to_api())
            found.listed[database] = [after if p.id == policy.id else p for p in found.listed.get(database, [])]
        now = self.changes.clock()
        needed = max([p.needed for p in planned] + [sum(groups.values())], default=0)
        return Batch(organization=selection.organization, requester=user, channel=channel,
                     selection=selection.words + (" (its exact name, not a glob)" if found.exact else ""),
                     changes=changes, planned=planned, skipped=skipped,
                     approvals_needed=needed, expires_at=now + self.changes.access.rules.expire_after_seconds,
                     reason=reason, approvals_from=groups or None,
                     approvers=[self.changes.access.groups.resolve(p) for p in principals], retry_of=retry_of,
                     where_target=selection.where_target, created_at=now)

    def _asked_records(self, batch: Batch) -> list[AuditEvent]:
        tag = f"bulk change {batch.id[:8]}"
        records = [AuditEvent(action="requested", actor=batch.requester, organization=batch.organization,
                              database=p.database, policy_id=p.policy_id, policy_name=p.policy_name,
                              before=p.before, sent=batch.changes, reason=batch.reason, channel=batch.channel,
                              detail=f"{tag}: needs {batch.approvals_needed} approval(s)")
                   for p in batch.planned]
        return records + refused_records(batch)

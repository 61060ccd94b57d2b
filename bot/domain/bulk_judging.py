"""A bulk change's policies judged after it is asked (bot/domain/bulk.py): each as a single approval is, by the
one judge, and where its approvals stand. One click (or one sweep's turn, or one drawing of its message) reads
each database once for all its policies: its reads (`SharedReads`) go with it, from the judging to the message
that shows what it found, so a failed read is neither tried again for each policy nor again to draw it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from bot.domain.batches import Batch, BatchState, BatchStore, Planned
from bot.domain.bulk_costs import SharedReads
from bot.domain.bulk_standing import Standing, standings
from bot.domain.change_requests import ChangeKind
from bot.domain.changes import ChangePath
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.judge import Asked, Stage, Verdict, VerdictKind
from bot.domain.policy import BackupPolicy

UNSETTLED = frozenset({VerdictKind.CANNOT_TELL, VerdictKind.WAIT})  # not yet approved, or not yet judged


class Judging:
    changes: ChangePath
    store: BatchStore

    def _judge_planned(self, batch: Batch, planned: Planned, approvers: Sequence[str],
                       shared: SharedReads | None = None, kept: bool = True,
                       listed: SharedReads | None = None) -> Verdict:
        """With `shared` reads, judged as a single approval is; else on the facts kept (or on none). A guardrail's
        verdict on the values asked is judged on the policy as it is now, read through `shared` or `listed` (each
        database listed once for the step), as a single approval's is; with neither, on the values asked alone."""
        asked, rules = Asked(batch.organization, planned.database, batch.requester, batch.channel, planned.before,
                             batch.changes, batch.reason), self.changes.access.rules
        before, facts = BackupPolicy.model_validate(planned.before), DatabaseFacts.of(planned.facts) if kept else None
        db = DatabaseRef(batch.organization, planned.database)
        if shared is not None or (facts is not None and facts.unread):
            facts = self.changes.approving_facts(db, ChangeKind.UPDATE, before,
                                                 str(batch.changes.get("target", before.target)), facts, rules,
                                                 shared, ahead(batch, planned))
        verdict = self.changes.judged(Stage.APPROVING, before, asked, approvers, facts, rules)
        reads = shared if shared is not None else listed
        if reads is None:
            return verdict
        return self.changes.on_the_policy_now(db, planned.policy_id, asked, approvers, rules, verdict,
                                              partial(reads.policies, planned.database,
                                                      partial(self.changes.policies.list_policies, db)))

    def _judged(self, batch: Batch, approvers: Sequence[str], shared: SharedReads) -> list[Verdict]:
        """Each policy still in it judged as an approval is, on `shared`. One whose facts a PlanetScale read
        could not give (its database gone or closed to the token, or a passing 500 or 429) never holds the others
        back: judged on its rules' approvals alone, it goes with them, and its own step under its lease reads and
        judges it again (at the sweep's next turn when the failure may pass): applied, tried again while it
        passes within its request's life, or failed on its own, told and offered again."""
        verdicts = [self._judge_planned(batch, p, approvers, shared) for p in batch.live]
        return [self._judge_planned(batch, p, approvers, kept=False)
                if v.kind is VerdictKind.CANNOT_TELL and shared.failure(p.database) else v
                for p, v in zip(batch.live, verdicts, strict=True)]

    def _ready(self, batch: Batch, approvers: Sequence[str], shared: SharedReads) -> list[Verdict] | None:
        """Each policy still in it judged as an approval is (on `shared`, facts read again): the verdicts when
        every one has what its rules ask, else None."""
        verdicts = self._judged(batch, approvers, shared)
        return None if {v.kind for v in verdicts} & UNSETTLED else verdicts

    def standings(self, batch: Batch, reads: SharedReads | None = None) -> list[Standing] | None:
        """Where a pending bulk change's approvals stand, per group of its policies judged alike (bulk_standing.py),
        as its next approval judges them, on `reads` (an approval's own, for its message: not read again); who
        may approve each resolved for showing; None once decided, or unjudged."""
        if batch.state is not BatchState.PENDING:
            return None
        approved_by = self.store.batch_approvers(batch.id)
        shared = (reads if reads is not None else SharedReads()) if approved_by else None
        found = standings(batch.planned, batch.changes, lambda p: self._judge_planned(batch, p, approved_by, shared))
        resolve = self.changes.access.groups.resolve
        return None if found is None else [replace(s, approvers=tuple(resolve(a) for a in s.approvers))
                                           for s in found]

    def counted_approvers(self, batch: Batch, found: Sequence[Standing] | None = None,
                          reads: SharedReads | None = None) -> list[str]:
        """The approvals of a pending bulk change that still count under the rules as they are: those that count
        on some policy of it (all of them while that cannot be checked); once decided, those that decided it."""
        approved_by = self.store.batch_approvers(batch.id)
        if batch.state is not BatchState.PENDING and approved_by:
            # Its policies' requests keep the approvals that decided them (none kept: all of them).
            kept = [m.request.counted for m in self.store.batch_members(batch.id)]
            if kept and None not in kept:
                deciding = {a for k in kept for a in k or ()}
                # And those given on a policy of it alone (sent back to waiting, approved from `pending`).
                alone = [a for k in kept for a in k or () if a not in approved_by]
                return [a for a in approved_by if a in deciding] + list(dict.fromkeys(alone))
        if batch.state is not BatchState.PENDING or not approved_by:
            return approved_by
        found = found if found is not None else self.standings(batch, reads)
        if found is None:
            return approved_by
        counts = {a for s in found for a in s.counted}
        return [a for a in approved_by if a in counts]


def ahead(batch: Batch, planned: Planned) -> list[BackupPolicy]:
    """The policies of `planned`'s database the change applies before it (its live ones, in order), as they would
    be after it: asking judged each policy so, and applying finds them so, so an approval counts them so too (a
    floor the earlier ones leave broken asks its override of this one)."""
    found = []
    for p in batch.live:
        if p.key == planned.key:
            break
        if p.database == planned.database:
            found.append(BackupPolicy.model_validate(p.before).model_copy(update=batch.changes))
    return found

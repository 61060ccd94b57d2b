"""The sweep's recovery of what a crash left behind: requests left applying past their lease (their worker gone,
or slower than it may be) are settled by what PlanetScale holds when a write of theirs may have left, and judged
again and applied as any other when none did; requests approved but never claimed are applied."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

from bot.domain.applying import ANSWERED, Applying
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.commands import DatabaseRef
from bot.domain.lifecycle import APPROVED_STALE_SECONDS, skipped
from bot.domain.outcomes import SYSTEM, Outcome, request_event
from bot.domain.policy import BackupPolicy
from bot.domain.ports import Claim, PlanetScaleError
from bot.domain.reading import PolicyNotFound

S = RequestState
log = logging.getLogger(__name__)


class Recovering(Applying):
    def recover(self) -> list[Outcome]:
        """Finish requests a crash left behind: applying past their lease first (the worker that claimed them is
        gone, or took longer than it may: its PATCH, if any, has ended), then approved but never claimed."""
        outcomes = []
        now = self.clock()
        left = self.store.requests([S.APPLYING], lease_before=now, unheld=True)
        approved = self.store.requests([S.APPROVED], updated_before=now - APPROVED_STALE_SECONDS, unheld=True)
        if any(r.approvals_needed for r in [*left, *approved]):
            # Judged again under the lease on their approvals: counted on the groups listed now, as at a click.
            self.access.looked_up_again()
        for request in left:
            try:  # one row the database cannot write now (locked by another session past the lock timeout)
                claim = self.store.claim_for_applying(request, [S.APPLYING], self.lease_seconds)
            except Exception as exc:
                skipped(log, self.store.row_held(exc), f"the sweep could not claim request {request.id}")
                continue
            if claim is None:
                continue
            # Its waits are noted as any applying worker's (a read across a wait is judged again before a write
            # leaves); the lease is given back after it, unless its last move did.
            with self._working(claim):
                outcomes.append(self._guarded(request, partial(self._recover_applying, claim)))
        # After one whose database could not be read for a moment (or PlanetScale rate limiting the token), the
        # others there (or all) wait for the next sweep rather than each trying it with its waits now.
        unread: set[tuple[str, str]] = set()
        limited = False
        for request in approved:
            if limited or (request.organization, request.database) in unread:
                continue
            outcome = self._guarded(request, partial(self._apply, request, SYSTEM))
            outcomes.append(outcome)
            limited = outcome.rate_limited or outcome.unreachable
            if outcome.unread_for_now:
                unread.add((request.organization, request.database))
        return outcomes

    def _recover_applying(self, claim: Claim) -> Outcome:
        """A request left applying: if its latest attempt's write may have left, PlanetScale's state says whether
        it landed; if none did (none sent, or each kept unsent), it is judged again and applied as any other."""
        request = claim.request
        sent = self._may_have_sent(request)
        if sent and request.after is not None:
            # PlanetScale answered the send (its answer kept when recording it failed): applied, whatever the
            # policy holds now (it may have been changed since, in the dashboard).
            answer = BackupPolicy.model_validate(request.after)
            return self._landed(claim, replace(request_event("applied", request, SYSTEM, after=request.after,
                                                             detail=ANSWERED), policy_id=answer.id),
                                "Applied (PlanetScale's answer to the send, recorded by the sweep).", answer,
                                after=request.after, policy_id=answer.id, policy_name=answer.name)
        if sent:
            unconfirmed = (request.detail or "").removeprefix("unconfirmed: ")
            why = unconfirmed if request.detail and request.detail.startswith("unconfirmed: ") else \
                "the bot stopped while PlanetScale was applying it."
            return self._settle(claim, SYSTEM, why)
        if request.left_by_older and self._held_already(request):
            # Versions before the 'sending' entry recorded nothing before their PATCH: one that landed is applied.
            # This version's, never marked sending, sent nothing: judged again below, as any other.
            return self._settle(claim, SYSTEM, "the bot stopped while applying it, before recording the sending.")
        return self._apply_claimed(claim, SYSTEM)

    def _held_already(self, request: ChangeRequest) -> bool:
        """Whether PlanetScale holds every value the request sets (False when it cannot be read now)."""
        try:
            current = self._stored_policy(DatabaseRef(request.organization, request.database),
                                          request.policy_id)
        except (PlanetScaleError, PolicyNotFound):
            return False
        return all(current.field_value(f) == v for f, v in request.changes.items())

"""The lifecycle of a change request: its states and the moves allowed between them as one table, each move
one conditional write; a move out of `applying` is also conditional on the lease its worker holds, so a worker
that outlived its lease moves nothing (but PlanetScale's answer that it carried out the send: a fact). And the
policy's lease: one change applying per policy, across threads (turns on a lock) and instances (the database's
lease)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.domain.access_rules import describe_duration
from bot.domain.audit import AuditEvent, iso_of
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.ports import (
    FRESH_SECONDS,
    ChangeStore,
    Claim,
    HeldUp,
    LeaseLost,
    NotSent,
    PlanetScaleApi,
    pages_apart,
    send_fence,
    wait_noted,
)

if TYPE_CHECKING:
    from bot.domain.access import AccessControl

# Room for the database writes around the PATCH, beyond the PlanetScale client's own worst case.
LEASE_MARGIN_SECONDS = 30.0
# How long a request left approved by a crash (before it was claimed) waits before the sweep applies it.
APPROVED_STALE_SECONDS = 60.0
# Pending requests and bulk changes with an approval are judged again by the sweep in turns: a few per sweep, the
# longest due first, each again JUDGE_AGAIN_SECONDS after its turn (the rules, the groups or a role may have
# changed since; nothing tells), at once after a judging that could not tell. A sweep's work stays the same
# however many wait.
JUDGED_PER_SWEEP = 20
JUDGE_AGAIN_SECONDS = 600.0
# How long a bulk change's policy, once approved, is tried again at each sweep while PlanetScale fails it for a
# moment (a 5xx, a 429) or its facts cannot be read: an hour, not the request's whole life, so a policy that
# cannot be applied is closed as failed in good time and offered again by the bulk message's Retry button.
BULK_WAIT_SECONDS = 3600.0


def skipped(log: logging.Logger, held: bool, what: str) -> None:
    """A sweep's step on one row, left for the next sweep: one line where another session holds the row (the
    sweep waits for it only briefly, by design); its traceback for any other failure."""
    if held:
        log.warning("%s: its row is held by another session; the next sweep tries again", what)
    else:
        log.exception("%s; the next sweep tries again", what)


def bulk_tries(expire_after_seconds: float) -> float:
    """How long after its approval a bulk change's policy is tried: BULK_WAIT_SECONDS, within its request's life."""
    return min(BULK_WAIT_SECONDS, expire_after_seconds)


def bulk_wait_words(seconds: float) -> str:
    """What happens next to such a policy, tried `seconds` after its approval at most, and what its reader can do:
    it has no Approve button of its own."""
    return (f"the bot tries it again at its next sweep, for up to {describe_duration(seconds)} after the approval; "
            "then it closes it as failed, and the Retry button on the bulk change's message asks it again")


def bulk_gave_up_words(seconds: float) -> str:
    return f"the bot tried it at each sweep for {describe_duration(seconds)} after the approval: Retry asks it again"

# How long a click waits for another change to the same policy to finish before leaving it to the sweep.
CLAIM_WAIT_SECONDS = 15.0
LEASE_POLL_SECONDS = 0.05
# How many times a write's fence judges it again on a fresh read before it gives up sending it: each time, its lease
# renewal or its look-ups held it up past a fresh read again.
JUDGED_AGAIN_AT_MOST = 3
# The audit entry of a change on its way to PlanetScale, written before its write leaves; and the mark its worker
# writes after it when the write was kept unsent (by its fence, or a name PlanetScale's paths cannot hold).
SENDING = "sending"
UNSENT = "unsent"

log = logging.getLogger(__name__)

S = RequestState
# The request's columns the judge sets when a claimed request applies (bot/domain/applying.py).
JUDGED = ("decided_by", "approvals_needed", "approvers", "approvals_from", "counted")
# Each state, and the states a request in it may move to. A move from `applying` needs the worker's claim.
TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    S.PENDING: frozenset({S.PENDING, S.APPROVED, S.REJECTED, S.CANCELLED, S.EXPIRED, S.FAILED}),
    S.APPROVED: frozenset({S.APPLYING}),  # claimed with the policy's lease (ChangeStore.claim_for_applying)
    # back to pending when the rules, judged again under the lease, ask for more approvals or cannot tell;
    # back to approved when they cannot tell on a change that needs no approval (no click would move it on),
    # or when the policy could not be read for a moment: the sweep judges it again;
    # applying → applying when a PATCH's outcome is not known yet and the sweep is left to settle it;
    # applying → applied on PlanetScale's answer, by the worker that heard it, whoever holds the lease by then.
    S.APPLYING: frozenset({S.APPLYING, S.APPLIED, S.FAILED, S.PENDING, S.APPROVED}),
    S.APPLIED: frozenset(),
    # failed → applied when a send lands after its worker outlived its lease and the sweep closed it as failed.
    S.FAILED: frozenset({S.APPLIED}),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}


class Forbidden(Exception):
    """A move the lifecycle does not allow: a mistake in the bot, never a person's."""


def check_move(from_states: Sequence[RequestState], to: RequestState, claim: Claim | None,
               answered: bool = False) -> None:
    """`answered`: the move records PlanetScale's answer that it carried out the send (applying → applied), a
    fact rather than a judgement, so it needs no lease: the worker that heard it may have outlived its own."""
    for state in from_states:
        if to not in TRANSITIONS[state]:
            raise Forbidden(f"a request may not move from {state} to {to}")
        if state is S.APPLYING and claim is None and not (answered and to is S.APPLIED):
            raise Forbidden(f"a move from applying to {to} needs the worker's claim on the policy")


class PolicyTurns:
    """Within one process, the changes waiting for the same policy take turns on a lock instead of each asking
    the database for its lease every few milliseconds: in a burst, those polls cost more than the changes. Across
    instances the database's lease still decides."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._turns: dict[str, tuple[threading.Lock, int]] = {}  # a policy's lock, and how many hold or want it

    @contextlib.contextmanager
    def turn(self, key: str, timeout: float) -> Iterator[bool]:
        """This thread's turn at `key` (True), or False when `timeout` seconds passed first."""
        with self._guard:
            lock, users = self._turns.get(key) or (threading.Lock(), 0)
            self._turns[key] = (lock, users + 1)
        got = lock.acquire(timeout=timeout)
        try:
            yield got
        finally:
            if got:
                lock.release()
            with self._guard:
                lock, users = self._turns[key]
                if users == 1:
                    del self._turns[key]
                else:
                    self._turns[key] = (lock, users - 1)



class Lifecycle:
    """The moves of a request, for the change path (which sets `store`, `planetscale`, `clock`, `pause`,
    `claim_wait`)."""

    store: ChangeStore
    planetscale: PlanetScaleApi
    access: AccessControl
    turns: PolicyTurns
    clock: Callable[[], float]
    pause: Callable[[float], None]
    claim_wait: float

    @property
    def lease_seconds(self) -> float:
        """An applying worker reads the policy once and sends one PATCH: both at their slowest, plus the writes."""
        return 2 * self.planetscale.worst_case_seconds() + LEASE_MARGIN_SECONDS

    def _move(self, request_id: str, from_states: Sequence[RequestState], to: RequestState, *,
              claim: Claim | None = None, record: AuditEvent | None = None, alive: bool = False,
              answered: bool = False, **values: Any) -> ChangeRequest | None:
        """One allowed move, as one conditional write: None if the request was not in `from_states`. With
        `claim` (every move out of applying but an `answered` one), also None if its lease was taken over;
        otherwise the same write gives the lease back. With `alive`, also None once the request's life has
        ended."""
        check_move(from_states, to, claim, answered)
        if claim is not None:
            values.setdefault("lease_until", 0)
            if claim.facts is not None:
                values.setdefault("facts", claim.facts)
            # As the judge asked it under this lease, and decided by an approval it counted: kept with every move,
            # so a sweep that settles it later records what was sent, not what was stored before.
            values.update({k: getattr(claim.request, k) for k in JUDGED if k not in values})
            # Named as read under this lease: a policy renamed in PlanetScale since it was asked is told as it is now.
            values.setdefault("policy_name", claim.request.policy_name)
            return self.store.transition(request_id, from_states, to, record=record, release=claim, alive=alive,
                                         **values)
        return self.store.transition(request_id, from_states, to, record=record, alive=alive, **values)

    def _tried_until(self, request: ChangeRequest, again: str) -> tuple[float, str, str]:
        """Until when a request that PlanetScale fails for a moment, or that cannot be judged, is tried again; what
        happens next (`again` for an ordinary request); and what its closing as failed adds. A bulk change's
        policy (stored at its approval) is tried BULK_WAIT_SECONDS after that approval at most, within its life."""
        if self.store.batch_of_request(request.id) is None:
            return request.expires_at, again, ""
        tries = bulk_tries(request.expires_at - request.created_at)
        return request.created_at + tries, bulk_wait_words(tries), f"; {bulk_gave_up_words(tries)}"

    def _claim(self, request: ChangeRequest, from_states: Sequence[RequestState]) -> Claim | None:
        """Claim the request and its policy's lease; while another change holds it, wait a little."""
        deadline = self.clock() + self.claim_wait
        while True:
            claim = self.store.claim_for_applying(request, from_states, self.lease_seconds)
            if claim is not None:
                return claim
            latest = self.store.get_request(request.id)
            if latest is None or latest.state not in from_states or self.clock() >= deadline:
                return None
            self.pause(LEASE_POLL_SECONDS)

    def _hold(self, claim: Claim, record: AuditEvent | None = None) -> bool:
        """Enough of the claim's lease left for the next PlanetScale call at its slowest and the read that may
        follow it, renewing it when not; `record` (the mark that a call is being sent) is recorded only in a write
        that renews the lease and checks its holder, as a worker may stall between this look and that write. False
        (nothing recorded) when the lease was taken over.

        Twice the slowest call: a change judged quickly (within LEASE_MARGIN_SECONDS of its claim) keeps the
        whole slowest call's worth of lease after its PATCH, as much room for instances' clocks to disagree as
        renewing gave."""
        if record is None and claim.until - self.clock() >= 2 * self.planetscale.worst_case_seconds():
            return True
        return self.store.renew(claim, self.lease_seconds, record=record)

    def _may_have_sent(self, request: ChangeRequest) -> bool:
        """Whether a write of the request's latest attempt may have left: its `sending` is on the record without
        its own `unsent` mark after it. Only the latest attempt tells: a later one records its `sending` only once
        the request was moved back by the earlier one (marked unsent first) or found with that mark by the sweep;
        an attempt whose write may have left keeps the request applying until PlanetScale's state settles it.
        Other entries (a `waiting` note, which the sweep may write after a real send) tell nothing."""
        latest = None
        for event in self.store.events_of_request(request.id):
            if event.action == SENDING or (event.action == UNSENT and latest == SENDING):
                latest = event.action
        return latest == SENDING

    @contextlib.contextmanager
    def _fenced(self, claim: Claim, again: Callable[[], None] | None = None,
                attempt: AuditEvent | None = None) -> Iterator[None]:
        """Each write sent to PlanetScale meanwhile leaves only while `claim` still holds the policy's lease, with
        room for the write (renewed when short): a worker that stalled after recording its send, past its lease,
        and was taken over by the sweep sends nothing on a policy judged long ago. A write that waited after its
        judging (the bot's budget, a Retry-After: told exactly), or leaves longer than FRESH_SECONDS after the
        policy's read (any wait, told or not), or was judged on access rules reloaded since (`Claim.rules`), leaves
        only if `again`, judging it anew on a fresh read under the lease (which it marks), lets it (it raises
        otherwise): the policy or the rules may have moved meanwhile."""

        def fence(waited: bool) -> None:
            # The lease held with room for the write (its renewal may stall too), then the read still fresh: each
            # judging again is followed by the same two checks, as the write leaves after them.
            for _ in range(JUDGED_AGAIN_AT_MOST + 1):
                if not self._hold(claim):
                    raise LeaseLost("Nothing was sent: the bot's worker lost the policy's lease before the change "
                                    "left (it stalled, and the sweep took the change over).")
                stale = claim.read_at is not None and self.clock() - claim.read_at > FRESH_SECONDS
                # Judged on rules no longer in force: the access file was reloaded after they were read.
                reloaded = claim.rules is not None and self.access.rules is not claim.rules
                if not (waited or claim.waited or stale or reloaded) or again is None:
                    return
                again()  # marks the read it judged on (Claim.read), made after every look-up it needed
                waited = False
            raise HeldUp("the bot was held up after each of its reads of the policy before the change could leave "
                         "(its database or PlanetScale was slow)")

        token = send_fence.set(fence)
        try:
            yield
        except NotSent as exc:
            if attempt is not None:
                try:
                    self.store.record(replace(attempt, action=UNSENT, detail=exc.user_message,
                                              at=iso_of(self.clock())))
                except Exception:  # unmarked, the sweep settles it by what PlanetScale holds, as a possible send
                    log.exception("request %s: marking its write unsent failed", attempt.request_id)
            raise
        finally:
            send_fence.reset(token)

    @contextlib.contextmanager
    def _working(self, claim: Claim) -> Iterator[None]:
        """The work done under `claim`; its lease given back after it, unless its last move did. Each wait of a
        PlanetScale call meanwhile marks the claim (`Claim.waited`): a write after a wait that followed the
        policy's read is judged again by its fence."""

        def noted(_: float) -> None:
            claim.waited = True

        def apart() -> None:
            claim.apart = True

        token, pages = wait_noted.set(noted), pages_apart.set(apart)
        try:
            yield
        finally:
            pages_apart.reset(pages)
            wait_noted.reset(token)
            if not claim.released:
                self.store.release(claim)

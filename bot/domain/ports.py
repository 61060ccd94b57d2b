"""What the domain needs from the outside, as it needs it: PlanetScale's API and its failures, and storage.

The adapters (bot/adapters/) implement these; the domain never imports an HTTP, SQL or Slack library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.domain.audit import AuditEvent
from bot.domain.backups import Backup, Branch
from bot.domain.change_requests import ChangeRequest, PendingGroup, RequestState
from bot.domain.policy import BackupPolicy, PolicyUpdate

if TYPE_CHECKING:
    from bot.domain.access_rules import AccessRules

# Called by the PlanetScale client before each HTTP request it sends (each page, each retry) in this context; it
# raises to refuse the request unsent. The watch sets it to spend its share of PlanetScale's budget.
request_meter: ContextVar[Callable[[], None] | None] = ContextVar("request_meter", default=None)
# Called by the PlanetScale client before each HTTP request it sends for a person in this context (each page,
# each retry); it raises RequestsSpent to keep the request unsent. A command that could read without end (`status`)
# sets it to its own bound.
request_cap: ContextVar[Callable[[], None] | None] = ContextVar("request_cap", default=None)
# Called by the PlanetScale client right before each write it sends (each attempt) in this context, told whether
# the write waited since it was asked (for the bot's budget, or before a repeat); it raises (LeaseLost, or the
# change path's own) to keep the write unsent. The change path sets it to its lease's check: a worker that stalled
# past its lease after recording its send, and was taken over, sends nothing; a write that waited is judged again.
send_fence: ContextVar[Callable[[bool], None] | None] = ContextVar("send_fence", default=None)
# Called by the PlanetScale and Slack clients with each wait they make in this context (a turn in the bot's budget,
# a retry's backoff or Retry-After), reads' and look-ups' too. The change path sets it while it holds a lease: a
# policy read before a wait is judged again before a write leaves.
wait_noted: ContextVar[Callable[[float], None] | None] = ContextVar("wait_noted", default=None)
# Called by the PlanetScale client when a list it reads in pages waited after its first page was answered: the
# pages before the wait show things as they were before it. The change path sets it while it holds a lease.
pages_apart: ContextVar[Callable[[], None] | None] = ContextVar("pages_apart", default=None)


def note_wait(seconds: float) -> None:
    """Tells a wait of `seconds` to whoever notes this context's waits (`wait_noted`), if anyone does."""
    noted = wait_noted.get()
    if noted is not None and seconds > 0:
        noted(seconds)
# A policy read under a lease longer ago than this is read again before a write leaves on it: any wait counts,
# told or not (a stalled database, a slow answer, the HTTP layer's queue). Waits the PlanetScale and Slack clients
# make are told exactly; this bound is for the rest, far above a step's own time on a loaded machine, so a step
# that did not wait never reads again.
FRESH_SECONDS = 5.0
T = TypeVar("T")
# A list PlanetScale pages through is read to at most this many items (its newest first); the rest is not read.
MOST_LISTED = 5000


class Fork(Protocol):
    """Starts `work` beside its caller and gives back what waits for its result (raising what it raised), so
    that reads which do not depend on each other overlap."""

    def __call__(self, work: Callable[[], T], /) -> Callable[[], T]: ...


def in_line(work: Callable[[], T]) -> Callable[[], T]:
    """The Fork with nothing beside: `work` runs at once, its result (or failure) kept for the wait."""
    try:
        done = work()
    except Exception as exc:
        failure = exc

        def failed() -> T:
            raise failure

        return failed
    return lambda: done


def waits_told(fork: Fork, work: Callable[[], T]) -> Callable[[], T]:
    """`work` started on `fork`, each wait it makes told (`wait_noted`) to whoever waits for its result, as it
    waits: a read started before a lease was taken, whose result is waited for after the policy's read under it,
    makes that read stale when it waited, as the waiter's own reads do."""
    waits: list[float] = []

    def noting() -> T:
        token = wait_noted.set(waits.append)
        try:
            return work()
        finally:
            wait_noted.reset(token)

    result = fork(noting)

    def waited_for() -> T:
        try:
            return result()
        finally:
            noted = wait_noted.get()
            if noted is not None:
                for seconds in waits:
                    noted(seconds)

    return waited_for


def unwatched(work: Callable[[], T]) -> Callable[[], T]:
    """`work` run without the lease's wait hooks (`wait_noted`, `pages_apart`): a read beside a send that nothing
    judged waits for, so its waits hold no write up and make no fence judge it again on a read of its own."""

    def run() -> T:
        noted, apart = wait_noted.set(None), pages_apart.set(None)
        try:
            return work()
        finally:
            pages_apart.reset(apart)
            wait_noted.reset(noted)

    return run


GATEWAY_GAVE_UP = frozenset({502, 504})


class PlanetScaleError(Exception):
    """A call to PlanetScale that did not succeed. `user_message` is safe and useful to show anyone."""

    # True when PlanetScale said no: the request was certainly not carried out. Otherwise (timeouts, 5xx, lost
    # answers, 429 after a retried timeout) a PATCH may have landed before the failure.
    definite = False
    unreachable = False  # no answer at all (Unreachable)

    def __init__(self, user_message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(user_message)
        self.user_message = user_message
        self.status = status
        self.code = code

    @property
    def answered(self) -> bool:
        """Whether PlanetScale itself answered, so a creation or deletion it does not show since did not land: not
        a gateway's 502 or 504 in front of it, which gave up on PlanetScale while it may still carry it out."""
        return self.status is not None and self.status not in GATEWAY_GAVE_UP


class Unauthorized(PlanetScaleError):
    definite = True


class Forbidden(PlanetScaleError):
    definite = True


class NotFound(PlanetScaleError):
    definite = True


class Rejected(PlanetScaleError):
    """PlanetScale refused the request's content (400/422): its own message says why."""

    definite = True


class NotSent(PlanetScaleError):
    """Refused by the bot before it left (a name PlanetScale's paths cannot hold): certainly not carried out."""

    definite = True


class LeaseLost(NotSent):
    """Kept unsent by the send's fence: the worker no longer holds the policy's lease (the sweep took it over)."""


class HeldUp(NotSent):
    """Kept unsent by the send's fence: each of its reads of the policy was held up before the write could leave
    (the bot's database or PlanetScale slow for a moment), a passing failure."""


class RateLimited(PlanetScaleError):
    """429, still so after the retries, or with a wait too long to hold a person for."""


class Unavailable(PlanetScaleError):
    """5xx, a timeout or no connection, still so after the retries."""


class Unreachable(Unavailable):
    """No answer at all: the connection failed (refused, DNS) or timed out."""

    unreachable = True


class BadResponse(PlanetScaleError):
    """An answer this bot cannot read (not JSON, not the spec's shape)."""


class PartlyUnreadable(BadResponse, Generic[T]):
    """A list some items of which this bot cannot read: those it can, and for each of the others its ID or name
    (as PlanetScale gave it, or its place in the list) and why. Whoever reads the list carries on with the rest
    where that is safe (the watch), or refuses the whole (a bulk change)."""

    def __init__(self, message: str, readable: list[T], unreadable: dict[str, str]):
        super().__init__(message)
        self.readable, self.unreadable = readable, unreadable


class ListCut(PartlyUnreadable[T]):
    """A list PlanetScale pages past the MOST_LISTED items the bot reads of one: `readable` holds those of the
    first `read` items it could read, and the rest was not read at all, so what it lacks may still be there."""

    def __init__(self, message: str, readable: list[T], unreadable: dict[str, str], read: int):
        super().__init__(message, readable, unreadable)
        self.read = read


class RequestsSpent(NotSent):
    """Kept unsent: the command has made as many requests to PlanetScale as one command may (`request_cap`)."""


@contextmanager
def requests_capped(most: int) -> Iterator[None]:
    """At most `most` requests to PlanetScale in this context; past them each is kept unsent (RequestsSpent)."""
    left = [most]

    def take() -> None:
        if left[0] <= 0:
            raise RequestsSpent(f"This command made the {most} requests to PlanetScale one command may make, to "
                                "keep within PlanetScale's request budget, so the rest was not read.")
        left[0] -= 1

    token = request_cap.set(take)
    try:
        yield
    finally:
        request_cap.reset(token)


class Member(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    role: str
    email: str
    name: str


class PlanetScaleApi(Protocol):
    def list_policies(self, organization: str, database: str) -> list[BackupPolicy]: ...

    def get_policy(self, organization: str, database: str, policy_id: str) -> BackupPolicy: ...

    def update_policy(self, organization: str, database: str, policy_id: str,
                      update: PolicyUpdate) -> BackupPolicy: ...

    def create_policy(self, organization: str, database: str, values: PolicyUpdate) -> BackupPolicy:
        """POST a new policy; sent once (never retried: a second POST could make a second policy)."""
        ...

    def delete_policy(self, organization: str, database: str, policy_id: str) -> None:
        """DELETE a policy; NotFound when it is not there (any more)."""
        ...

    def list_branches(self, organization: str, database: str) -> list[Branch]: ...

    def list_databases(self, organization: str) -> list[str]: ...

    def database_kind(self, organization: str, database: str) -> str:
        """`mysql` (Vitess) or `postgresql`, as PlanetScale says of the database."""
        ...

    def list_backups(self, organization: str, database: str, branch: str, policy_id: str | None,
                     since: str | None = None, state: str | None = None) -> list[Backup]:
        """A branch's backups (of one policy, unless `policy_id` is None; in one `state`, unless None)."""
        ...

    def worst_case_seconds(self) -> float:
        """The longest one call can take, every attempt and wait included."""
        ...


@dataclass
class Claim:
    """A request claimed for applying, and the token of the lease its worker holds on the policy: until when,
    and the database's generation once claimed (a read of its policies at `generation - 1` is still fresh)."""

    request: ChangeRequest
    token: str
    until: float = 0.0
    generation: int = 0
    released: bool = field(default=False, compare=False)  # set by the store once the lease is given back
    # The request's facts as completed beside its send (the estimate's basis), written with its next move.
    facts: dict[str, Any] | None = field(default=None, compare=False)
    # A PlanetScale call waited since the policy was read under this lease (the facts' reads, the write's own).
    waited: bool = field(default=False, compare=False)
    # The read of the policy under way waited between the pages of its list (`pages_apart`).
    apart: bool = field(default=False, compare=False)
    # When the policy was read under this lease (the change path's clock); None before it is.
    read_at: float | None = field(default=None, compare=False)
    # The access rules the change was last judged on under this lease: once others are in force (the file was
    # reloaded while the policy or its facts were read), it is judged again before a write leaves.
    rules: AccessRules | None = field(default=None, compare=False)

    def reading(self) -> None:
        """The policy is about to be read under the lease (a list of its database's policies)."""
        self.apart = False

    def read(self, now: float) -> None:
        """The policy read under the lease, its read ended at `now`: a wait before its first answer is before it.
        One between the pages of its list stays noted: the policy is as a page answered before that wait showed it."""
        self.waited, self.read_at, self.apart = self.apart, now, False


class ChangeStore(Protocol):
    """Requests, approvals, the policies' leases and the audit trail."""

    def record(self, event: AuditEvent) -> None: ...

    def add_request(self, request: ChangeRequest, record: AuditEvent | None = None) -> ChangeRequest:
        """Store a new request, and `record` in the same transaction. A revert of a change that has an open revert
        already is not stored: that open revert is returned instead."""
        ...

    def get_request(self, request_id: str) -> ChangeRequest | None: ...

    def transition(self, request_id: str, from_states: Sequence[RequestState], to: RequestState, *,
                   record: AuditEvent | None = None, release: Claim | None = None, alive: bool = False,
                   **values: object) -> ChangeRequest | None:
        """Move a request from one of `from_states` to `to`; None if it was not in them (or, with `alive`, if its
        life has ended by the store's clock). In the same transaction: `record` goes on the audit trail if it
        moved, and `release`'s lease is given back either way."""
        ...

    def requests(self, states: Sequence[RequestState] = ..., expired_before: float | None = None,
                 updated_before: float | None = None, lease_before: float | None = None,
                 limit: int | None = 200, told: bool | None = None, shuffled: bool = False,
                 revert_of: str | None = None, unheld: bool = False) -> list[ChangeRequest]:
        """The oldest first (`shuffled`: by chance); at most `limit` (None: all); `told`: only those (not) marked
        told; `revert_of`: only the reverts of that request; `unheld`: none another session holds locked now (the
        sweep's: a held one is left for its next pass)."""
        ...

    def own_pending(self, user: str, now: float) -> int:
        """How many pending requests `user` asked that have not expired at `now`."""
        ...

    def pending_waiting(self, user: str, now: float) -> list[tuple[PendingGroup, str, float]]:
        """Pending requests by others, not expired at `now` and not approved by `user`: (group, ID, created)."""
        ...

    def pending_page(self, user: str, now: float, ids: Sequence[str] | None, limit: int) -> list[ChangeRequest]:
        """The oldest `limit` pending requests not expired at `now`: `user`'s own (`ids` None), or those of
        `ids` by others and not yet approved by `user`."""
        ...

    def reminders_due(self, moments: Sequence[tuple[str, float, float]], now: float) -> list[ChangeRequest]:
        """Pending requests not expired where a moment (notice, share of life, seconds before) has passed and its
        notice is not claimed; may include a few a moment later (the caller checks each)."""
        ...

    def add_approval(self, request_id: str, approver: str, record: AuditEvent | None = None) -> list[str] | None:
        """Count one approval once, with `record`, while the request is pending: all approvers so far, None if
        this one had approved, [] (nothing recorded) if the request is no longer pending or its life has ended.
        The same write makes it due for the sweep's judging APPROVED_STALE_SECONDS later."""
        ...

    def judging_turns(self, now: float, limit: int, next_at: float) -> list[ChangeRequest]:
        """Pending requests due to be judged again by `now`, the longest due first, at most `limit`, the oldest
        first; each due next at `next_at`, in the same write (another instance sweeping takes others)."""
        ...

    def judge_later(self, request_id: str, at: float) -> None:
        """The pending request due to be judged again at `at`."""
        ...

    def approvers_of(self, request_id: str) -> list[str]: ...

    def policy_requests(self, organization: str, database: str, policy_id: str | None, states: Sequence[RequestState],
                        updated_since: float | None = None) -> list[ChangeRequest]:
        """The requests on one policy (None: on any of the database's) in `states`, the oldest first."""
        ...

    def batch_of_request(self, request_id: str) -> str | None:
        """The bulk change a request is a policy of (None: an ordinary request)."""
        ...

    def latest(self, organization: str, database: str, policy_refs: Sequence[str], limit: int) -> list[AuditEvent]:
        """The newest audit entries of the policies named by `policy_refs` (IDs or exact names), newest first."""
        ...

    def approvers_by_request(self, request_ids: Sequence[str]) -> dict[str, list[str]]:
        """`approvers_of` for many requests at once: every ID is a key."""
        ...

    def claim_for_applying(self, request: ChangeRequest, from_states: Sequence[RequestState],
                           lease_seconds: float) -> Claim | None:
        """The request moved to applying with its policy's lease, or None; with no `from_states`, the lease alone,
        for a request being asked that is not stored yet."""
        ...

    def renew(self, claim: Claim, lease_seconds: float, record: AuditEvent | None = None) -> bool:
        """Extend the claim's lease from now, and record `record`; False (and nothing recorded) if the lease was
        taken over meanwhile."""
        ...

    def release(self, claim: Claim) -> None: ...

    def database_generation(self, organization: str, database: str) -> int: ...

    def events_of_request(self, request_id: str) -> list[AuditEvent]: ...

    def row_held(self, exc: BaseException) -> bool:
        """Whether `exc` is a row another session holds, waited for briefly at the sweep: left for its next pass."""
        ...

    def note_damaged(self, request_id: str, what: str) -> None:
        """A request the domain found damaged in the database (`what` it holds): logged once, named in /healthz."""

    def claim_notice(self, request_id: str, notice: str) -> bool:
        """True for the one caller, across instances, that may send this notice about this request."""
        ...

    def claim_notice_recorded(self, request_id: str, notice: str, record: AuditEvent) -> bool:
        """`claim_notice`, recording `record` in the same write for the one caller it is true for."""
        ...

    def notice_claimed_at(self, request_id: str, notice: str) -> float | None:
        """When this notice about this request was claimed (its first try); None if it is not claimed."""

    def claim_notices(self, request_id: str, notices: Sequence[str], regardless: Sequence[str] = ()) -> list[str]:
        """The claims this caller makes, each as `claim_notice` would, in order up to the first claimed already;
        `regardless` claimed first in the same write, each as `claim_notice` would, whatever the others find."""
        ...

    def unposted(self, notice: str, settled: str, claimed_before: float, limit: int = 50) -> list[ChangeRequest]:
        """Open requests with no message whose `notice` was claimed before `claimed_before` and `settled` not
        claimed, the oldest first."""
        ...

    def forget_notice(self, request_id: str, notice: str) -> None:
        """Give a claimed notice back, so that a later step sends it (its first sending failed); its request is
        no longer marked told."""
        ...

    def mark_told(self, request_id: str, notices: Sequence[str], claim: Sequence[str] = ()) -> bool:
        """Mark a closed request told once every one of `notices` is claimed, claiming `claim` first (those not
        claimed yet); False if one is not (or it is told already, or open)."""
        ...

    def all_events(self, batch: int = 500) -> Iterator[AuditEvent]: ...

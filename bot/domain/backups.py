"""Whether the policies actually produce backups: per policy, its last success, its recent failures, its next run,
and whether it is stale (docs/planetscale-api.md, "Branches and backups").

Backups belong to branches: a production policy backs up the database's production branches, a development
policy its development branches. A policy is stale when its last success is older than `stale_factor` times its
frequency (or when it never succeeded although it has run for that long).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.costs import Basis, latest_basis
from bot.domain.guardrails import LONGEST_UNIT_HOURS
from bot.domain.policy import BackupPolicy

# How far apart the clocks of two instances (or of the bot and PlanetScale) may be when one acts and the other
# reads what it did.
CLOCK_MARGIN_SECONDS = 60.0

RECENT_FAILURES = timedelta(days=7)
DEFAULT_STALE_FACTOR = 2.0


class Branch(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: str
    production: bool


class Backup(BaseModel):
    """A backup as `GET …/branches/{branch}/backups` lists it (the fields the bot reads)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    state: str  # pending, running, success, failed, canceled, ignored
    # A size below zero is no size: read as one, it would estimate storage below zero, within any max_storage.
    size: int = Field(ge=0)
    # PlanetScale's estimate of what storing it costs (the spec's `estimated_storage_cost`); absent: not given.
    estimated_storage_cost: float | None = None
    created_at: str
    started_at: str | None
    completed_at: str | None
    expires_at: str | None
    # The ID of the policy that made it (the spec's `backup_policy`); None when not given or not readable.
    policy_id: str | None = Field(default=None, validation_alias="backup_policy")

    @field_validator("policy_id", mode="before")
    @classmethod
    def _a_policy(cls, value: object) -> str | None:
        # A malformed one leaves that backup unattributed, no more: counted for the policy its list was asked for.
        found = value.get("id") if isinstance(value, dict) else None
        return found if isinstance(found, str) and found else None

    @field_validator("size", mode="before")
    @classmethod
    def _a_size(cls, value: object) -> object:
        # JSON's `true` is no size: read as 1 byte, it would estimate storage within any max_storage.
        if isinstance(value, bool):
            raise ValueError("a size must be a number, not true or false")
        return value

    @field_validator("estimated_storage_cost", mode="before")
    @classmethod
    def _a_cost(cls, value: object) -> object:
        # Only shown, never judged: a cost that is no number at or above zero (`true`, text, an object, below zero)
        # is left out as not given, never told as a price nor making the list, and the sizes judged, unreadable.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return None
        try:
            cost = float(value)
        except (ValueError, OverflowError):  # text no number reads, or an integer past a float's range
            return None
        return None if cost < 0 else cost

    @field_validator("created_at", "started_at", "completed_at", "expires_at")
    @classmethod
    def _a_time(cls, value: str | None) -> str | None:
        # Read once here: a malformed time is PlanetScale's error about this list, not a crash where it is used.
        if value is not None:
            parse_time(value)
        return value

    @property
    def at(self) -> datetime:
        """When it ended, or else when it started or was created."""
        return parse_time(self.completed_at or self.started_at or self.created_at)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone); ValueError when it is not one."""
    if not isinstance(text, str):
        raise ValueError("a time must be text")
    # RFC 3339 allows a lowercase `z`, which fromisoformat refuses.
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PolicyHealth:
    policy: BackupPolicy
    branches: tuple[str, ...]
    last_success: Backup | None
    failures: tuple[Backup, ...]  # in the last 7 days, newest first
    stale: bool
    stale_after: timedelta
    failed_last: bool  # the newest finished backup failed
    # Branches whose backups could not be read; the health is then what the others say.
    unread: tuple[str, ...] = field(default_factory=tuple)
    # Branches of its target not read at all (past MAX_BRANCHES_READ): the health says nothing of them.
    left_out: tuple[str, ...] = field(default_factory=tuple)
    failed_on: tuple[str, ...] = field(default_factory=tuple)  # the branches whose newest backup failed
    # The latest successful backup of each branch of its target, summed: what its storage is estimated from (None
    # from judge_health when some were left out: a sum of some of them is no estimate; `status` then reads every
    # branch for it, bulk_costs.with_every_branch).
    basis: Basis | None = None
    running: bool = False  # a backup newer than the last finished one is still under way
    # None of its own: `basis` is its target's latest successes, as a change to it is estimated; or why those
    # could not be read.
    basis_of_target: bool = False
    target_unread: str | None = None
    # Branches PlanetScale listed in a shape this bot cannot read, each with why; also in `unread`.
    misread: tuple[str, ...] = field(default_factory=tuple)
    # Not stale only because it changed lately (its new span to prove itself): no success has come since it was.
    grace: bool = False
    # Why whether it is stale cannot be told (UNDATED's keys), or "": never backed up and dated by PlanetScale as
    # created in the future, or with a creation date that cannot be read; or a frequency of nothing.
    undated: str = ""

    @property
    def healthy(self) -> bool:
        return not (self.stale or self.failed_last or self.undated)

    @property
    def needs_attention(self) -> bool:
        """Unhealthy, or healthy only for its change's span: `status` marks it and counts it."""
        return not self.healthy or self.grace

    @property
    def problem(self) -> str | None:
        """What is wrong in a few words, or None."""
        found = []
        if self.failed_last:
            where = f" on {', '.join(self.failed_on[:3])}" if len(self.branches) > 1 and self.failed_on else ""
            more = f" and {len(self.failed_on) - 3} more" if len(self.failed_on) > 3 and where else ""
            found.append(f"the last backup failed{where}{more}")
        if self.stale:
            found.append("stale: no successful backup within " + describe_span(self.stale_after))
        if self.undated == "frequency":
            found.append(f"PlanetScale gives it a frequency of {self.policy.frequency_value} "
                         f"{self.policy.frequency_unit}s: whether it is stale cannot be told")
        elif self.undated:
            found.append(f"never backed up, and PlanetScale {UNDATED[self.undated]}: when it turns stale cannot be "
                         "told")
        return "; ".join(found) or None


def describe_span(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    if hours % 24 == 0 and hours:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


# What PlanetScale says of a policy never backed up that leaves when it turns stale untold.
UNDATED = {"future": "dates its creation in the future",
           "unreadable": "dates its creation in a way that cannot be read"}


# Past this, a span is as good as forever (and `timedelta` would overflow on what PlanetScale could send).
LONGEST_SPAN = timedelta(days=1000 * 366)


# How far ahead of this machine's clock a policy's change may lie (the two clocks' drift).
CHANGE_DRIFT = timedelta(days=1)


def frequency_span(policy: BackupPolicy) -> timedelta:
    hours = policy.frequency_value * LONGEST_UNIT_HOURS.get(policy.frequency_unit, 24)
    # Bounded both ways: a frequency PlanetScale answers far below zero would overflow timedelta too.
    longest = LONGEST_SPAN.total_seconds() / 3600
    return LONGEST_SPAN if hours >= longest else -LONGEST_SPAN if hours <= -longest else timedelta(hours=hours)


def branches_for(policy: BackupPolicy, branches: Sequence[Branch]) -> list[Branch]:
    production = policy.target == "production"
    return [b for b in branches if b.production == production]


def judge_health(policy: BackupPolicy, branches: Sequence[str], backups: Iterable[Backup], now: datetime,
                 stale_factor: float = DEFAULT_STALE_FACTOR, unread: Sequence[str] = (),
                 by_branch: Mapping[str, Sequence[Backup]] | None = None,
                 left_out: Sequence[str] = ()) -> PolicyHealth:
    """`by_branch`: the same backups by branch, so that one branch failing is not hidden by another succeeding."""
    backups = list(backups)
    finished = sorted((b for b in backups if b.state in ("success", "failed")), key=lambda b: b.at, reverse=True)
    successes = [b for b in finished if b.state == "success"]
    last_success = successes[0] if successes else None
    failures = tuple(b for b in finished if b.state == "failed" and now - b.at <= RECENT_FAILURES)
    span = frequency_span(policy)
    try:
        stale_after = min(span * stale_factor, LONGEST_SPAN)
    except OverflowError:
        stale_after = LONGEST_SPAN
    # Stale once `stale_after` has passed since the last success; never succeeded, since the policy was made. And
    # never before `stale_after` has passed since its last change: a schedule made more frequent (1d → 6h) has its
    # new span to prove itself, rather than being stale at once.
    changed = _time_or_none(policy.updated_at)
    if changed is not None and changed > now + CHANGE_DRIFT:
        changed = None  # a change still to come proves nothing: judged from the last success instead
    since, undated = last_success.at if last_success is not None else _time_or_none(policy.created_at), ""
    if last_success is None and (since is None or since > now + CHANGE_DRIFT):
        # A creation still to come (PlanetScale's clock gone wrong), or one whose date cannot be read: it existed by
        # its first backup or its last change at the latest; with neither, when it turns stale cannot be told, and
        # it is told so.
        why = "future" if since is not None else "unreadable"
        since = min([b.at for b in backups] + ([changed] if changed is not None else []), default=None)
        undated = why if since is None else ""
    # A frequency of nothing (0 or less, which PlanetScale should never send) cannot be judged stale, and is told so.
    if span <= timedelta(0):
        undated = "frequency"
    overdue = since is not None and span > timedelta(0) and now - since > stale_after
    if since is not None and changed is not None:
        since = max(since, changed)
    stale = since is not None and span > timedelta(0) and now - since > stale_after
    failed_on: list[str] = []
    for branch, its in (by_branch or {}).items():
        done = sorted((b for b in its if b.state in ("success", "failed")), key=lambda b: b.at, reverse=True)
        if done and done[0].state == "failed":
            failed_on.append(branch)
    failed_last = bool(failed_on) or (bool(finished) and finished[0].state == "failed")
    latest: dict[str, tuple[str, int, float | None]] = {}
    for branch, its in (by_branch or {"": backups}).items():
        won = [b for b in its if b.state == "success"]
        if won:
            newest = max(won, key=lambda b: b.at)
            latest[branch] = (newest.at.isoformat(), newest.size, newest.estimated_storage_cost)
    last_finished = finished[0].at if finished else None
    running = any(b.state in ("pending", "running") and (last_finished is None or b.at > last_finished)
                  for b in backups)
    return PolicyHealth(policy, tuple(branches), last_success, failures, stale, stale_after, failed_last,
                        tuple(unread), tuple(left_out), tuple(failed_on), None if left_out else latest_basis(latest),
                        running, grace=overdue and not stale, undated=undated)


def _time_or_none(text: str) -> datetime | None:
    try:
        return parse_time(text)
    except ValueError:
        return None


def now_utc() -> datetime:
    return datetime.now(UTC)

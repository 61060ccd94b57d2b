"""The estimate's basis for every policy of a bulk change, from reads that grow with its databases' branches, not
with its policies: each branch's successful backups are read once, each naming the policy that made it
(`backup_policy`), and every policy's basis is taken from those reads as backup_health.read_facts takes one
policy's: the newest success of the policy on each branch of its target, and where it has none of its own, the
newest of any policy there, as its creation was judged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.backup_health import TARGET_BASIS_DAYS, TooManyBranches, estimated_branches
from bot.domain.backups import Backup, Branch, PolicyHealth, now_utc
from bot.domain.commands import DatabaseRef
from bot.domain.costs import SHARE_SPENT, Basis, DatabaseFacts, latest_basis
from bot.domain.policy import BackupPolicy
from bot.domain.ports import MOST_LISTED, PlanetScaleApi, PlanetScaleError, RateLimited, Unavailable

# The backup lists one step of a bulk change (its asking, one approval and the message drawn on it) reads for its
# estimates, in all its databases: half a minute of PlanetScale's 600 requests a minute. Each database may read
# up to MAX_BRANCHES_ESTIMATED branches a target, and a change up to MAX_DATABASES_READ databases: without a total,
# one step could read thousands. Past it a policy's storage is not estimated, saying why.
MAX_BULK_ESTIMATE_READS = 300


class ReadsSpent(Exception):
    """The step's estimate reads are spent: a target whose branches are not all read has no estimate, never a sum
    of some of them."""

    def __init__(self) -> None:
        self.user_message = (f"{SHARE_SPENT} {MAX_BULK_ESTIMATE_READS} backup lists in all, to keep within "
                             "PlanetScale's request budget: ask for fewer databases at once")
        super().__init__(self.user_message)


@dataclass
class EstimateReads:
    """What one step of a bulk change may still read for its estimates, shared by all its databases."""

    left: int = MAX_BULK_ESTIMATE_READS


class DatabaseBases:
    """One database's reads for a bulk change: its branches once, each branch's successes of the last
    TARGET_BASIS_DAYS once, and its whole history of successes once where some policy has none in that window.
    A read that fails is kept: the estimates that need it are unknown, saying why, and it is not tried again."""

    def __init__(self, planetscale: PlanetScaleApi, db: DatabaseRef, now: datetime | None = None,
                 reads: EstimateReads | None = None):
        self.planetscale = planetscale
        self.db = db
        self.reads = reads  # None: bounded by the branches alone (one database's `status`)
        self._spent: ReadsSpent | None = None
        self._too_many: TooManyBranches | None = None  # a target past the branches an estimate reads
        self.since = (now or now_utc()) - timedelta(days=TARGET_BASIS_DAYS)
        self._branches: list[Branch] | PlanetScaleError | None = None
        self._reads: dict[tuple[str, bool, str | None], list[Backup] | PlanetScaleError] = {}

    def facts(self, listed: Sequence[BackupPolicy], policy: BackupPolicy, after_target: str) -> DatabaseFacts:
        """What `policy`'s change to `after_target` is judged on beyond it, as read_facts says it."""
        rows = tuple((p.id, p.name, p.target) for p in listed)
        try:
            before = self._basis(policy.target, policy.id) or self._basis(policy.target, None)
            after = before if after_target == policy.target else self._basis(after_target, None)
        except (PlanetScaleError, TooManyBranches, ReadsSpent) as exc:
            return DatabaseFacts(rows, unread=exc.user_message)
        return DatabaseFacts(rows, before, after)

    def estimated(self, health: PolicyHealth) -> PolicyHealth:
        """A health read on only some of its target's branches, with the estimate of every branch: its own
        latest successes, else its target's as with_target_estimates takes them, else why there is none."""
        policy = health.policy
        try:
            own = self._basis(policy.target, policy.id)
            target = None if own is not None else self._basis(policy.target, None)
        except (PlanetScaleError, TooManyBranches, ReadsSpent) as exc:
            return replace(health, basis=None, target_unread=exc.user_message)
        return replace(health, basis=own or target, basis_of_target=own is None and target is not None)

    @property
    def failure(self) -> PlanetScaleError | ReadsSpent | TooManyBranches | None:
        """The first of its reads that failed, for good or for a moment (a 500, a 429), its step's reads spent
        before its own were all made, or a target with more branches than an estimate reads."""
        failed = next((r for r in (self._branches, *self._reads.values()) if isinstance(r, PlanetScaleError)), None)
        return failed or self._spent or self._too_many

    def _basis(self, target: str, policy_id: str | None) -> Basis | None:
        latest: dict[str, tuple[str, int, float | None]] = {}
        names = self._names(target)
        # A target whose branches cannot all be read with what is left is not begun.
        self._spend(sum(1 for n in names if (n, True, None) not in self._reads), taken=False)
        for name in names:
            found = self._successes(name, policy_id, recent=True) or self._successes(name, policy_id, recent=False)
            if found:
                newest = max(found, key=lambda b: b.at)
                latest[name] = (newest.at.isoformat(), newest.size, newest.estimated_storage_cost)
        return latest_basis(latest)

    def _names(self, target: str) -> list[str]:
        if self._branches is None:
            try:
                found = self.planetscale.list_branches(self.db.organization, self.db.database)
                self._branches = sorted(found, key=lambda b: not b.production)
            except PlanetScaleError as exc:
                self._branches = exc
        if isinstance(self._branches, PlanetScaleError):
            raise self._branches
        try:
            return estimated_branches(self._branches, self.db, target)
        except TooManyBranches as exc:
            self._too_many = self._too_many or exc
            raise

    def _successes(self, branch: str, policy_id: str | None, recent: bool) -> list[Backup]:
        every = self._read(branch, None, recent)
        if policy_id is None:
            return every
        if len(every) >= MOST_LISTED:
            # The branch's list was cut: a policy's own successes may be past it, so they are read on their own,
            # as a change to that policy alone reads them.
            return self._read(branch, policy_id, recent)
        return [b for b in every if b.policy_id == policy_id]

    def _read(self, branch: str, policy_id: str | None, recent: bool) -> list[Backup]:
        key = (branch, recent, policy_id)
        if key not in self._reads:
            self._spend(1)
            at = self.since.isoformat().replace("+00:00", "Z") if recent else None
            try:
                self._reads[key] = [b for b in self.planetscale.list_backups(
                    self.db.organization, self.db.database, branch, policy_id, since=at, state="success")
                    if b.state == "success"]
            except PlanetScaleError as exc:
                self._reads[key] = exc
        read = self._reads[key]
        if isinstance(read, PlanetScaleError):
            raise read
        return read

    def _spend(self, count: int, taken: bool = True) -> None:
        """`count` more reads from the step's share (only checked when not `taken`), or ReadsSpent."""
        if self.reads is None:
            return
        if count > self.reads.left:
            self._spent = self._spent or ReadsSpent()
            raise self._spent
        if taken:
            self.reads.left -= count


def with_every_branch(planetscale: PlanetScaleApi, db: DatabaseRef, healths: list[PolicyHealth],
                      now: datetime | None = None) -> list[PolicyHealth]:
    """`status`'s healths, each that read only the first MAX_BRANCHES_READ branches of its target estimated from
    every branch (up to MAX_BRANCHES_ESTIMATED): each branch's successes read once for all of them."""
    if not any(h.left_out for h in healths):
        return healths
    bases = DatabaseBases(planetscale, db, now)
    return [bases.estimated(h) if h.left_out else h for h in healths]


def bulk_facts(bases: dict[str, DatabaseBases], planetscale: PlanetScaleApi, db: DatabaseRef,
               listed: Sequence[BackupPolicy], policy: BackupPolicy, after_target: str,
               reads: EstimateReads) -> DatabaseFacts:
    """A bulk change's policy's facts, its database's reads shared through `bases` (by database), all of them
    within `reads`, the step's share."""
    if db.database not in bases:
        bases[db.database] = DatabaseBases(planetscale, db, reads=reads)
    return bases[db.database].facts(listed, policy, after_target)



@dataclass
class SharedReads:
    """One bulk approval's reads, shared by its policies: each database's backups (`bases`) and its policies
    (`listed`), read once however many of its policies the approval judges."""

    bases: dict[str, DatabaseBases] = field(default_factory=dict)
    listed: dict[str, list[BackupPolicy] | Exception] = field(default_factory=dict)
    reads: EstimateReads = field(default_factory=EstimateReads)  # what `bases` may still read

    def policies(self, database: str, read: Callable[[], list[BackupPolicy]]) -> list[BackupPolicy]:
        """The database's policies, or the error its one listing raised, raised again for each policy asking."""
        if database not in self.listed:
            try:
                self.listed[database] = read()
            except Exception as exc:
                self.listed[database] = exc
        found = self.listed[database]
        if isinstance(found, Exception):
            raise found
        return found

    def failure(self, database: str) -> PlanetScaleError | ReadsSpent | TooManyBranches | None:
        """A read of this approval that failed for this database, for good or for a moment: its policies'
        verdicts stand on no read then, and their own step under their lease reads them again."""
        listed, bases = self.listed.get(database), self.bases.get(database)
        return listed if isinstance(listed, PlanetScaleError) else bases.failure if bases is not None else None

    def passing(self, database: str) -> PlanetScaleError | None:
        """This database's failed read when it may pass (a 5xx, a 429): tried again at the sweep's next turn, not
        at once by each of its policies."""
        found = self.failure(database)
        return found if isinstance(found, Unavailable | RateLimited) else None

"""Reading backup health from PlanetScale: each policy's backups on the branches of its target, every page."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.backups import (
    RECENT_FAILURES,
    Backup,
    Branch,
    PolicyHealth,
    branches_for,
    frequency_span,
    judge_health,
    now_utc,
    parse_time,
)
from bot.domain.commands import DatabaseRef
from bot.domain.costs import BRANCHES_PAST, Basis, DatabaseFacts, latest_basis
from bot.domain.naming import outside
from bot.domain.policy import BackupPolicy
from bot.domain.ports import (
    MOST_LISTED,
    ListCut,
    PartlyUnreadable,
    PlanetScaleApi,
    PlanetScaleError,
    RequestsSpent,
)

# Branches whose backups the health reads per policy (the watch's, `status`'s), production ones first: a database
# with a hundred development branches would otherwise spend a whole pass's budget on one policy.
MAX_BRANCHES_READ = 10
# Branches of a target a storage estimate reads (a change's, a bulk change's, `status`'s): every one up to this, as a
# sum of some of them would pass a `max_storage` bound the whole breaks. One read a branch (two where none succeeded
# lately) is at most a sixth (a third) of PlanetScale's 600 requests a minute per token, read one after another
# through the shared budget; past it there is no estimate.
MAX_BRANCHES_ESTIMATED = 100
# Policies whose backups `status` reads: a listing of thousands (a PlanetScale answering out of its contract) would
# otherwise read thousands of backup lists for one command, where a message shows a few dozen lines.
MAX_POLICIES_READ = 50
# PlanetScale requests one `status` makes, in all: half a minute of its 600 a minute per token. Fifty policies on ten
# branches each, with their estimates, could otherwise take thousands.
MAX_STATUS_REQUESTS = 300
# How far back the health reads a branch's backups first: the failures it counts, and a day more for one begun
# before them. A branch keeps a policy's every backup for as long as it keeps them (8,760 for an hourly policy kept
# a year), listed in no order the spec sets: read whole, a pass would read dozens of pages a policy and a list cut
# at MOST_LISTED could leave out the newest.
RECENT_READ = RECENT_FAILURES + timedelta(days=1)
# Where a branch's whole history was cut short at MOST_LISTED items (listed oldest first, its newest success may be
# past them), the windows of days its successes are read over, each until one holds a success.
SUCCESS_WINDOWS_DAYS = (32, 128, 512)


class TooManyBranches(Exception):
    """A target with more branches than a storage estimate reads: the estimate sums every branch a policy backs
    up, so one of only some of them would pass a `max_storage` bound the whole breaks. No estimate instead."""

    def __init__(self, db: DatabaseRef, target: str, count: int):
        self.user_message = (f"{db} has {count} {target} branches, {BRANCHES_PAST} {MAX_BRANCHES_ESTIMATED}, to keep "
                             "within PlanetScale's request budget")
        super().__init__(self.user_message)


def estimated_branches(branches: Sequence[Branch], db: DatabaseRef, target: str) -> list[str]:
    """The names of the branches of `target` a storage estimate sums: all of them, or TooManyBranches."""
    names = [b.name for b in branches if b.production == (target == "production")]
    if len(names) > MAX_BRANCHES_ESTIMATED:
        raise TooManyBranches(db, target, len(names))
    return names


def read_health(planetscale: PlanetScaleApi, db: DatabaseRef, policies: list[BackupPolicy],
                stale_factor: float, now: datetime | None = None,
                targets: Collection[str] | None = None,
                failed: Callable[[str, PlanetScaleError], None] | None = None) -> list[PolicyHealth]:
    """The health of each policy whose target is in `targets` (all when not given). The branches are listed once;
    a branch whose backups cannot be read is named in its policy's health, and given to `failed` with why; when
    none can be read, the first failure is raised. Once the command's requests are spent (`requests_capped`), the
    policy being read and those after it are left out."""
    moment = now or now_utc()
    shown = [p for p in policies if targets is None or p.target in targets]
    if not shown:
        return []
    cut: list[str] = []
    try:
        listed, misread = planetscale.list_branches(db.organization, db.database), {}
    except PartlyUnreadable as exc:  # one odd branch hides no other's backups
        listed, misread = exc.readable, exc.unreadable
        if isinstance(exc, ListCut):  # those past the cut may be of any target: the health is what the rest say
            cut.append(f"the branches past the first {exc.read:,}")
            if failed is not None:
                failed(cut[0], exc)
    branches = sorted(listed, key=lambda b: not b.production)
    odd = tuple(f"{outside(name[:64])} ({why})" for name, why in misread.items())
    found = []
    failures: list[PlanetScaleError] = []
    reads = 0
    for policy in shown:
        try:
            health, its_failures = _policy_health(planetscale, db, policy, branches, [*misread, *cut], moment,
                                                  stale_factor, failed)
        except RequestsSpent:
            break  # the command's requests are spent: this policy and those after it are not judged
        reads += len(health.branches)
        failures += its_failures
        found.append(replace(health, misread=odd) if odd else health)
    if failures and len(failures) == reads:
        raise failures[0]  # nothing could be read: say why rather than show every policy as unknown
    return found


def _policy_health(planetscale: PlanetScaleApi, db: DatabaseRef, policy: BackupPolicy, branches: list[Branch],
                   not_listed: list[str], moment: datetime, stale_factor: float,
                   failed: Callable[[str, PlanetScaleError], None] | None
                   ) -> tuple[PolicyHealth, list[PlanetScaleError]]:
    """One policy's health on the first MAX_BRANCHES_READ branches of its target, and the reads that failed."""
    backups: list[Backup] = []
    by_branch: dict[str, list[Backup]] = {}
    failures: list[PlanetScaleError] = []
    # An unreadable branch may be of its target: what the others say can be trouble, never a recovery.
    unread: list[str] = [name[:64] for name in not_listed]
    every = [b.name for b in branches_for(policy, branches)]
    names, left_out = every[:MAX_BRANCHES_READ], every[MAX_BRANCHES_READ:]
    for name in names:
        try:
            by_branch[name] = _health_backups(planetscale, db, name, policy, moment)
        except RequestsSpent:
            raise
        except PlanetScaleError as exc:
            failures.append(exc)
            unread.append(name)
            if failed is not None:
                failed(name, exc)
        else:
            backups += by_branch[name]
    return judge_health(policy, names, backups, moment, stale_factor, unread, by_branch, left_out), failures


def _health_backups(planetscale: PlanetScaleApi, db: DatabaseRef, branch: str, policy: BackupPolicy,
                    now: datetime) -> list[Backup]:
    """The policy's backups on `branch` the health judges: those of the last RECENT_READ, holding its newest
    success and newest finished backup when any succeeded then; else its whole history, where they are older."""
    since = now - RECENT_READ
    recent = planetscale.list_backups(db.organization, db.database, branch, policy.id,
                                      since=_stamp(since))
    if any(b.state == "success" for b in recent) or _made_after(policy, since):
        return recent
    # The recent ones kept: a history cut short (listed oldest first past the items a list is read to) would leave
    # out the last days' failures and newest backup for months-old ones.
    older = planetscale.list_backups(db.organization, db.database, branch, policy.id)
    found = recent + [b for b in older if b.id not in {r.id for r in recent}]
    if len(older) < MOST_LISTED:
        return found
    # Cut short: its newest success may be past the part read. Looked for in widening windows of successes.
    for days in SUCCESS_WINDOWS_DAYS:
        won = planetscale.list_backups(db.organization, db.database, branch, policy.id, state="success",
                                       since=_stamp(now - timedelta(days=days)))
        if won:
            held = {b.id for b in found}
            return found + [b for b in won if b.id not in held]
    return found


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _made_after(policy: BackupPolicy, moment: datetime) -> bool:
    """Whether PlanetScale made the policy after `moment`: it has no backup from before it."""
    try:
        return parse_time(policy.created_at) > moment
    except (ValueError, TypeError, OverflowError):
        return False


def misread(healths: list[PolicyHealth]) -> str | None:
    """The branches PlanetScale listed in a shape this bot cannot read, in words; None when there are none."""
    odd = next((h.misread for h in healths if h.misread), ())
    return f"PlanetScale listed {len(odd)} branches this bot cannot read, whose backups are not judged: " \
        f"{'; '.join(odd[:3])}" if odd else None


# How far back the sizes of a target's backups (any policy's) are read first, for a policy that has none of its own.
TARGET_BASIS_DAYS = 8


def read_facts(planetscale: PlanetScaleApi, db: DatabaseRef, policies: list[BackupPolicy],
               policy: BackupPolicy | None, after_target: str | None, now: datetime | None = None,
               branches_read: Callable[[], list[Branch]] | None = None) -> DatabaseFacts:
    """What a change is judged on beyond its policy: the database's policies, and the basis of the storage
    estimate: the latest successful backup of each branch `policy` backs up (`before`), and of each branch of
    `after_target` (`after`: the policy's own when it keeps its target, else any policy's there). A read that
    fails leaves the estimate unknown, saying why; it never stops the change being judged. `branches_read`:
    waits for the database's branches when their read was started already."""
    listed = tuple((p.id, p.name, p.target) for p in policies)
    if policy is None and after_target is None:
        return DatabaseFacts(listed)
    moment = now or now_utc()
    try:
        found = branches_read() if branches_read is not None else \
            planetscale.list_branches(db.organization, db.database)
        branches = sorted(found, key=lambda b: not b.production)
        before = after = None
        if policy is not None:
            since = moment - max(2 * frequency_span(policy), timedelta(days=2))
            before = _basis(planetscale, db, branches, policy.target, policy.id, since)
            if before is None:
                # No successful backup of its own yet: estimated as its creation was, else growing it before its
                # first run would pass a bound its creation at that size does not.
                target_since = moment - timedelta(days=TARGET_BASIS_DAYS)
                before = _basis(planetscale, db, branches, policy.target, None, target_since)
            after = before if after_target == policy.target else None
        if after_target is not None and (policy is None or after_target != policy.target):
            since = moment - timedelta(days=TARGET_BASIS_DAYS)
            after = _basis(planetscale, db, branches, after_target, None, since)
    except (PlanetScaleError, TooManyBranches) as exc:
        return DatabaseFacts(listed, unread=exc.user_message)
    return DatabaseFacts(listed, before, after)


def read_again(planetscale: PlanetScaleApi, db: DatabaseRef, facts: DatabaseFacts | None,
               policy: BackupPolicy | None, after_target: str) -> DatabaseFacts | None:
    """Facts recorded when a change was asked, their backups read now for a storage bound that covers it: judged
    on a recorded failure, every approval would be refused on a read nothing retries; judged on sizes read then,
    a bound added since would be judged on less than applying reads."""
    if facts is None:
        return facts
    fresh = read_facts(planetscale, db, [], policy, after_target)
    return DatabaseFacts(facts.policies, fresh.before, fresh.after, fresh.unread)

def with_target_estimates(planetscale: PlanetScaleApi, db: DatabaseRef, healths: list[PolicyHealth],
                          now: datetime | None = None) -> list[PolicyHealth]:
    """Each policy with no successful backup of its own estimated as a change to it is (read_facts): from its
    target's latest successful backups, read once per target; where they cannot be read, saying why."""
    targets = {h.policy.target for h in healths if _none_of_its_own(h)}
    if not targets:
        return healths
    since = (now or now_utc()) - timedelta(days=TARGET_BASIS_DAYS)
    bases: dict[str, Basis | PlanetScaleError | TooManyBranches | None] = {}
    try:
        branches = sorted(planetscale.list_branches(db.organization, db.database), key=lambda b: not b.production)
    except PlanetScaleError as exc:
        bases = dict.fromkeys(targets, exc)
    for target in targets - bases.keys():
        try:
            bases[target] = _basis(planetscale, db, branches, target, None, since)
        except (PlanetScaleError, TooManyBranches) as exc:
            bases[target] = exc
    found = []
    for health in healths:
        basis = bases.get(health.policy.target) if _none_of_its_own(health) else None
        if isinstance(basis, PlanetScaleError | TooManyBranches):
            health = replace(health, target_unread=basis.user_message)
        elif basis is not None:
            health = replace(health, basis=basis, basis_of_target=True)
        found.append(health)
    return found


def _none_of_its_own(health: PolicyHealth) -> bool:
    # A health that read only some branches is estimated from every one by bulk_costs.with_every_branch.
    return health.basis is None and bool(health.branches) and not health.unread and not health.left_out


def _basis(planetscale: PlanetScaleApi, db: DatabaseRef, branches: list[Branch], target: str, policy_id: str | None,
           since: datetime) -> Basis | None:
    latest: dict[str, tuple[str, int, float | None]] = {}
    for name in estimated_branches(branches, db, target):
        found = _successes(planetscale, db, name, policy_id, since)
        if not found:
            # None since the window began (its runs failed, or the target is backed up seldom): the latest
            # success is older, and still kept.
            found = _successes(planetscale, db, name, policy_id, None)
        if found:
            newest = max(found, key=lambda b: b.at)
            latest[name] = (newest.at.isoformat(), newest.size, newest.estimated_storage_cost)
    return latest_basis(latest)


def _successes(planetscale: PlanetScaleApi, db: DatabaseRef, branch: str, policy_id: str | None,
               since: datetime | None) -> list[Backup]:
    at = since.isoformat().replace("+00:00", "Z") if since is not None else None
    return [b for b in planetscale.list_backups(db.organization, db.database, branch, policy_id, since=at,
                                                state="success") if b.state == "success"]

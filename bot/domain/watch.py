"""The watch: reads the policies of every database the access rules name, compares them with the last state seen, and
turns what it finds into notices for the audit channel.

- A policy changed outside the bot (the dashboard, the API, another tool) is recorded in the audit trail with before →
  after and the guardrails the new state breaks, and becomes one notice with a Revert button.
- The first read of a database is a quiet baseline. After it, a policy that appears was created outside the bot and one
  that is gone (missing from the list, answered 404 by its ID, and still missing from a list read after that 404, which
  proves the token can still read the database) was deleted outside it: each is recorded and becomes one notice. The
  bot's own creations and deletions (a request of that kind applied, or applying: then judged at the next pass) are kept
  quietly. A deleted policy's last state is kept, marked, so it is told once. A policy first listed after the first read
  but created before it (by PlanetScale's created_at) was left out of that list, cut short, and is kept quietly.
- The bot's own changes are never drift: a policy with a change being applied is judged at the next pass, and a field
  moved to the value an applied request set is the bot's doing. The comparison runs after the read, and a request is
  marked applying before its PATCH leaves, so a read that already holds the bot's change always finds its request.
- A policy whose last backup failed or that is stale is one notice when the incident starts and one when it ends, never
  one per pass.
- Only the holder of the watch lease (one row in the database) writes: with several instances, one watches. Everything
  it saves is conditional on still holding it, so a watcher whose lease was taken over writes nothing.
- The watch keeps to its share of PlanetScale's budget per minute, in HTTP requests (bot/domain/watch_share.py), waiting
  for its turn rather than giving up a call begun, and yielding to people's commands. A cycle reads every database once,
  in order, from where the last pass stopped (a cursor in the database, so another instance resumes there); a policy's
  backups are read only when they are due. A database PlanetScale fails to answer for is skipped and its state kept:
  nothing is posted about it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.access_rules import AccessRules
from bot.domain.audit import AuditEvent
from bot.domain.backup_health import misread, read_health
from bot.domain.backups import CLOCK_MARGIN_SECONDS, PolicyHealth, now_utc, parse_time
from bot.domain.change_requests import ChangeKind, RequestState
from bot.domain.commands import DatabaseRef
from bot.domain.guardrails import judge
from bot.domain.late_creations import deleted_late, landed_late, patched_late
from bot.domain.policy import EDITABLE_FIELDS, PATH_SEGMENT, BackupPolicy
from bot.domain.ports import (
    BadResponse,
    Forbidden,
    NotFound,
    NotSent,
    PartlyUnreadable,
    PlanetScaleApi,
    PlanetScaleError,
    RateLimited,
    Unauthorized,
    Unavailable,
    request_meter,
)
from bot.domain.request_budget import DEFAULT_REQUEST_BUDGET, ReadOnlyCalls
from bot.domain.watch_share import (
    BackupMark,
    MemoryProgress,
    Stopped,
    WatchProgressStore,
    WatchShare,
    backups_due,
    next_mark,
)
from bot.domain.watch_skips import BackupSkips, Skipped, after_read
from bot.domain.watch_state import (
    DATABASE_READ,
    DELETED_MARK,
    WATCH_ACTOR,
    Notice,
    NoticeKind,
    Seen,
    WatchStore,
    bot_left,
    watched_databases,
)

log = logging.getLogger(__name__)


# Failures no passing outage (someone should know): an answer the bot cannot read, a name no path holds, a token
# refused or short of an access; and for a database or a list of them, a 404 (a branch's may be one just deleted).
LASTING = (BadResponse, NotSent, Unauthorized, Forbidden)
LASTING_HERE = (*LASTING, NotFound)

# Beyond two intervals, how long a watcher may take over a pass before another instance takes the watch over.
LEASE_MARGIN_SECONDS = 60.0


@dataclass
class PassResult:
    notices: list[Notice] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # databases read
    failed: list[str] = field(default_factory=list)  # databases PlanetScale did not answer for
    deferred: list[str] = field(default_factory=list)  # databases left for the next pass (the watch stopped)
    skipped: list[Skipped] = field(default_factory=list)
    lost_lease: bool = False
    whole_cycle: bool = False  # the pass read every database, from the first
    backups_read: int = 0  # policies whose backups were read (they were due)

    def skip(self, what: str, exc: BaseException | str) -> None:
        reason = exc if isinstance(exc, str) else describe_failure(exc)
        self.skipped.append(Skipped(what, reason))
        log.error("the watch skipped %s and carried on: %s", what, reason)


def describe_failure(exc: BaseException) -> str:
    """An unexpected failure in a few words: its kind and its first line (a database's error names no secret)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class Watch:
    def __init__(self, planetscale: PlanetScaleApi, store: WatchStore, rules: Callable[[], AccessRules],
                 stale_factor: float, share: WatchShare | int = DEFAULT_REQUEST_BUDGET,
                 clock: Callable[[], float] = time.time, now: Callable[[], datetime] | None = None,
                 progress: WatchProgressStore | None = None):
        self.planetscale = planetscale
        self.store = store
        self.rules = rules
        self.stale_factor = stale_factor
        self.share = share
        self.clock = clock
        self.now = now
        self.progress: WatchProgressStore = progress or MemoryProgress()
        self._cycle: tuple[float, list[DatabaseRef]] | None = None  # the databases of the cycle under way

    @property
    def share(self) -> WatchShare:
        return self._share

    @share.setter
    def share(self, value: WatchShare | int) -> None:
        self._share = WatchShare(value) if isinstance(value, int) else value

    def run_pass(self, holder: str, lease_seconds: float,
                 after_each: Callable[[], object] | None = None) -> PassResult:
        """The databases of the cycle from where the last pass stopped to the end of the cycle; `after_each` is
        called after each database (to post what was found so far)."""
        metered = request_meter.set(self.share.take)
        try:
            return self._run_pass(holder, lease_seconds, after_each)
        finally:
            request_meter.reset(metered)

    def _databases(self, rules: AccessRules, calls: ReadOnlyCalls, started: float | None,
                   unlisted: dict[str, str]) -> list[DatabaseRef]:
        """The databases of the cycle, in order: listed at its start, or when this instance resumes one; those
        listed unreadably go in `unlisted`, each with why."""
        if started is not None and self._cycle is not None and self._cycle[0] == started:
            return self._cycle[1]
        unread: dict[str, PlanetScaleError] = {}
        databases = watched_databases(rules, calls.list_databases, unlisted, unread)
        for organization, exc in unread.items():
            log.warning("the watch could not list the databases of %s that the rules name by a pattern: %s",
                        organization, exc.user_message)
            if isinstance(exc, LASTING_HERE):
                unlisted[f"{organization} databases"] = exc.user_message
        return sorted(databases, key=_position)

    def _run_pass(self, holder: str, lease_seconds: float, after_each: Callable[[], object] | None) -> PassResult:
        result = PassResult()
        calls = ReadOnlyCalls(self.planetscale)
        rules = self.rules()
        position, started = self.progress.cursor()
        if position is None:
            started = None
        unlisted: dict[str, str] = {}
        try:
            databases = self._databases(rules, calls, started, unlisted)
        except Stopped:
            return result
        for what, why in unlisted.items():
            result.skip(what, why)
        if started is None:
            started = self.clock()
        self._cycle = (started, databases)
        todo = [d for d in databases if position is None or _position(d) > position]
        # What earlier reads left out, for every database of the pass at once: kept across passes and restarts.
        skips = self.progress.backup_skips([(d.organization, d.database) for d in todo]) if todo else {}
        for index, db in enumerate(todo):
            if not self.store.take_watch_lease(holder, lease_seconds):
                result.lost_lease = True
                return result
            try:
                self._watch_database(holder, db, rules, calls, result, skips.get((db.organization, db.database), {}))
                result.read.append(str(db))
            except Stopped:
                result.deferred = [str(d) for d in todo[index:]]
                return result
            except PlanetScaleError as exc:
                result.failed.append(str(db))
                log.warning("the watch could not read %s, its state is kept: %s", db, exc.user_message)
                if isinstance(exc, LASTING_HERE):
                    result.skipped.append(Skipped(str(db), exc.user_message))
            except _LeaseLost:
                result.lost_lease = True
                return result
            except Exception as exc:  # one database never stops the rest
                result.skip(str(db), exc)
            if not self.progress.advance(holder, _position(db), started):
                result.lost_lease = True
                return result
            if after_each is not None:
                after_each()
        self.progress.advance(holder, None, self.clock())
        self._cycle = None
        result.whole_cycle = position is None
        return result

    def _watch_database(self, holder: str, db: DatabaseRef, rules: AccessRules, calls: ReadOnlyCalls,
                        result: PassResult, skips: BackupSkips) -> None:
        try:
            listed, partly = calls.list_policies(db.organization, db.database), None
        except PartlyUnreadable as exc:  # the others are judged; those it holds are neither new nor gone
            listed, partly = exc.readable, exc
        unreadable = partly.unreadable if partly is not None else {}
        # A policy listed twice in one answer is one policy (the first listing counts).
        policies = list({p.id: p for p in reversed(listed)}.values())
        policies.reverse()
        seen, lost = self.store.seen_policies(db.organization, db.database)
        if not seen and partly is not None:
            raise partly  # the first read is all or nothing
        if not seen and not lost:
            # The first read: all or nothing, or the policies a pass cut short had not saved would read as created
            # at the next one. With it, a row that says the database was read: one read without policies would
            # otherwise leave nothing saved, and the next read take the first policy created for the baseline.
            baseline = {p.id: p.model_dump() for p in policies}
            baseline[DATABASE_READ] = {DELETED_MARK: True, "name": "(the database was read)"}
            if not self.store.save_baseline(holder, db.organization, db.database, baseline):
                raise _LeaseLost
        else:
            first_read = seen.pop(DATABASE_READ, None)
            for policy in policies:
                try:
                    if policy.id in lost and policy.id not in seen:
                        # Its row damaged in the database: seen before, so written afresh and not told as created.
                        if not self.store.save_seen(holder, db.organization, db.database, policy.id,
                                                    policy.model_dump(), None):
                            raise _LeaseLost
                        continue
                    notice = self._judge_policy(holder, db, rules, policy, seen.get(policy.id), first_read)
                except (_LeaseLost, Stopped):
                    raise
                except Exception as exc:  # one policy never stops the rest
                    result.skip(f"{db} policy {policy.id}", exc)
                    continue
                if notice is not None:
                    result.notices.append(notice)
            result.skipped += [Skipped(f"{db} policy {i}", reason) for i, reason in unreadable.items()]
        # The whole list was read (a page PlanetScale failed to give fails the database): what is missing is gone,
        # once PlanetScale says so of it by its ID. Each is saved as it is confirmed, so a pass that runs out of
        # budget part way keeps those it told.
        ids = {p.id for p in policies} | set(unreadable)
        missing = [i for i, last in seen.items() if i not in ids and not last.values.get(DELETED_MARK)]
        for policy_id in self._confirmed_gone(calls, db, missing):
            try:
                gone = self._gone(holder, db, policy_id, seen[policy_id])
                if gone is not None:
                    result.notices.append(gone)
            except (_LeaseLost, Stopped):
                raise
            except Exception as exc:
                result.skip(f"{db} policy {policy_id}", exc)
        seen = {k: v for k, v in self.store.seen_policies(db.organization, db.database)[0].items()
                if not v.values.get(DELETED_MARK)}
        now = self.now() if self.now else now_utc()
        marks = self.progress.backup_marks(db.organization, db.database)
        due = [p for p in policies if p.id in seen and backups_due(p, marks.get(p.id), now)]
        lasting: dict[str, str] = {}  # a branch whose backups cannot be read for good: told, as a database is

        def failed(branch: str, exc: PlanetScaleError) -> None:
            if isinstance(exc, LASTING):
                lasting.setdefault(branch, exc.user_message)

        found: BackupSkips = {}  # what this read left out; kept till the next read says
        listed_ids = [p.id for p in policies]
        try:
            healths = read_health(calls, db, due, self.stale_factor, now=now, failed=failed)
        except PlanetScaleError as exc:
            log.warning("the watch could not read the backups of %s: %s", db, exc.user_message)
            if isinstance(exc, LASTING):
                found[None] = [Skipped(f"{db} backups", exc.user_message)]
            result.skipped += after_read(self.progress, holder, db, skips, found, listed_ids)
            return
        result.backups_read += len(healths)
        if healths:
            odd = misread(healths)
            found[None] = [Skipped(f"{db} branches", odd)] if odd else []
            found[None] += [Skipped(f"{db} backups of {branch[:64]}", why) for branch, why in lasting.items()]
        for item in found.get(None, []):
            log.error("the watch skipped %s and carried on: %s", item.what, item.reason)
        read: dict[str, BackupMark] = {}
        for health in healths:
            found[health.policy.id] = [Skipped(
                f"{db} policy {health.policy.id}",
                f"the backups of {len(health.left_out)} of its {len(health.branches) + len(health.left_out)} "
                f"{health.policy.target} branches are not read (the first {len(health.branches)} only)",
            )] if health.left_out else []
            try:
                notice = self._judge_health(holder, db, health, seen[health.policy.id])
            except (_LeaseLost, Stopped):
                raise
            except Exception as exc:
                result.skip(f"{db} policy {health.policy.id}", exc)
                continue
            read[health.policy.id] = next_mark(health, now)
            if notice is not None:
                result.notices.append(notice)
        result.skipped += after_read(self.progress, holder, db, skips, found, listed_ids)
        if not self.progress.save_backup_marks(holder, db.organization, db.database, read):
            raise _LeaseLost

    def _judge_policy(self, holder: str, db: DatabaseRef, rules: AccessRules, policy: BackupPolicy,
                      last: Seen | None, first_read: Seen | None) -> Notice | None:
        if last is None and first_read is not None and \
                _made_before(policy, first_read.at - CLOCK_MARGIN_SECONDS):
            # There when the database was first read, and left out of that list (cut short without an error, as
            # an empty one can be): not created since, so kept quietly.
            if not self.store.save_seen(holder, db.organization, db.database, policy.id, policy.model_dump(), None):
                raise _LeaseLost
            log.warning("PlanetScale lists policy %s of %s, made before the watch first read it and not listed "
                        "then: not told as created", policy.id, db)
            return None
        if last is None or last.values.get(DELETED_MARK):
            made_by_bot = self._made_by_bot(db, policy)
            if made_by_bot is None:
                return None  # the bot is making a policy of this name right now: judged at the next pass
            if made_by_bot:
                if not self.store.save_seen(holder, db.organization, db.database, policy.id, policy.model_dump(),
                                            None):
                    raise _LeaseLost
                return None
            return self._created(holder, db, rules, policy)
        return self._compare(holder, db, rules, policy, last)

    def _judge_health(self, holder: str, db: DatabaseRef, health: PolicyHealth, seen: Seen) -> Notice | None:
        if health.unread and (not health.problem or set(health.unread) >= set(health.branches)):
            # Some branches unread: not enough to call it recovered; all of them: nothing is known of it.
            return None
        before = seen.problem
        problem = health.problem
        if (problem or None) == before or (before and not problem and health.grace):
            # Unchanged, or not stale only for a change's span to prove itself: no backup came, nothing recovered.
            return None
        notice = None
        if problem and not before:
            notice = self._notice(NoticeKind.UNHEALTHY, db, health.policy, problem)
        elif before and not problem:
            notice = self._notice(NoticeKind.RECOVERED, db, health.policy, f"recovered (was: {before})")
        record = None if notice is None else AuditEvent(
            action="backup_" + notice.kind.value, actor="backup-bot", organization=db.organization,
            database=db.database, policy_id=health.policy.id, policy_name=health.policy.name, detail=notice.detail)
        if not self.store.save_problem(holder, db.organization, db.database, health.policy.id, problem, notice,
                                       record):
            raise _LeaseLost
        return notice

    def _notice(self, kind: NoticeKind, db: DatabaseRef, policy: BackupPolicy, detail: str, **extra: Any) -> Notice:
        return Notice(kind, db.organization, db.database, policy.id, policy.name, detail,
                      created_at=self.clock(), **extra)

    def _made_by_bot(self, db: DatabaseRef, policy: BackupPolicy) -> bool | None:
        """Whether a creation of the bot's made this policy (an applied one, or one closed as not applied whose
        POST landed after: recorded applied now); None while one of its name is applying (its POST may have made
        it, its ID not recorded yet)."""
        made = self.store.policy_requests(db.organization, db.database, policy.id, [RequestState.APPLIED])
        if any(r.kind is ChangeKind.CREATE for r in made):
            return True
        making = self.store.policy_requests(db.organization, db.database, "", [RequestState.APPLYING])
        if any(r.kind is ChangeKind.CREATE and r.changes.get("name") == policy.name for r in making):
            return None
        return landed_late(self.store, db, policy) is not None  # one closed as not applied whose POST landed later

    def _created(self, holder: str, db: DatabaseRef, rules: AccessRules, policy: BackupPolicy) -> Notice:
        """A policy read for the first time in a database read before: created outside the bot."""
        current = policy.model_dump()
        notice = self._notice(NoticeKind.CREATED, db, policy,
                              _with_broken("created outside the bot", rules, db, current, current), after=current)
        record = AuditEvent(action="created_outside", actor=WATCH_ACTOR, organization=db.organization,
                            database=db.database, policy_id=policy.id, policy_name=policy.name, after=current,
                            detail=notice.detail)
        if not self.store.save_seen(holder, db.organization, db.database, policy.id, current, notice, record):
            raise _LeaseLost
        return notice

    @staticmethod
    def _confirmed_gone(calls: ReadOnlyCalls, db: DatabaseRef, missing: list[str]) -> Iterator[str]:
        """The policies missing from the list that PlanetScale says are gone. Each is asked for by its ID before it
        is called deleted: a list cut short without an error (a page lost between two requests) must not put a
        false alarm in the channel. A service token that lost access to the database is answered 404 too, so a
        404 counts once a list read after it proves the access (and still lacks the policy)."""
        for policy_id in missing:
            if PATH_SEGMENT.fullmatch(policy_id) is not None:  # else no path carries it: the list read again tells
                try:
                    calls.get_policy(db.organization, db.database, policy_id)
                except NotFound:
                    pass
                except PlanetScaleError as exc:
                    log.warning("the watch could not confirm that policy %s of %s is gone (%s); asking again next "
                                "pass", policy_id, db, exc.user_message)
                    if isinstance(exc, (RateLimited, Unavailable, Unauthorized, Forbidden)):
                        return  # not this policy's failure: the others would meet it too, at the cost of the rate limit
                    continue
                else:
                    log.warning("PlanetScale listed %s without policy %s, which it still has: not told as deleted", db,
                                policy_id)
                    continue
            try:
                still = {p.id for p in calls.list_policies(db.organization, db.database)}
            except PartlyUnreadable as exc:
                still = {p.id for p in exc.readable} | set(exc.unreadable)
            except PlanetScaleError as exc:
                log.warning("the watch could not read %s again to confirm that policy %s is gone (%s); asking again "
                            "next pass", db, policy_id, exc.user_message)
                return
            if policy_id in still:
                log.warning("PlanetScale answered 404 for policy %s of %s, then listed it: not told as deleted",
                            policy_id, db)
                continue
            yield policy_id

    def _gone(self, holder: str, db: DatabaseRef, policy_id: str, last: Seen) -> Notice | None:
        """A policy no longer listed: deleted outside the bot. Its last state stays, marked, so it is told once.
        One the bot deleted is marked quietly (one closed as not applied whose DELETE landed later too); one it is
        deleting right now is judged at the next pass."""
        deleting = [r for r in self.store.policy_requests(db.organization, db.database, policy_id,
                                                          [RequestState.APPLYING, RequestState.APPLIED])
                    if r.kind is ChangeKind.DELETE]
        if any(r.state is RequestState.APPLYING for r in deleting):
            return None
        if deleting or deleted_late(self.store, db, policy_id, self.clock()) is not None:
            if not self.store.save_seen(holder, db.organization, db.database, policy_id,
                                        {**last.values, DELETED_MARK: True}, None):
                raise _LeaseLost
            return None
        name = str(last.values.get("name") or policy_id)
        notice = Notice(NoticeKind.DELETED, db.organization, db.database, policy_id, name,
                        "deleted outside the bot", before=dict(last.values), created_at=self.clock())
        record = AuditEvent(action="deleted_outside", actor=WATCH_ACTOR, organization=db.organization,
                            database=db.database, policy_id=policy_id, policy_name=name, before=dict(last.values),
                            detail=notice.detail)
        if not self.store.save_seen(holder, db.organization, db.database, policy_id,
                                    {**last.values, DELETED_MARK: True}, notice, record):
            raise _LeaseLost
        return notice

    def _compare(self, holder: str, db: DatabaseRef, rules: AccessRules, policy: BackupPolicy,
                 seen: Seen) -> Notice | None:
        current = policy.model_dump()
        moved = [f for f in EDITABLE_FIELDS if current[f] != seen.values.get(f)]
        if not moved:
            return None
        if self.store.policy_requests(db.organization, db.database, policy.id, [RequestState.APPLYING]):
            return None  # the bot is changing it right now: judged at the next pass, once that has settled
        patched_late(self.store, db, policy)  # a PATCH of the bot's closed as not applied that landed later
        applied = self.store.policy_requests(db.organization, db.database, policy.id, [RequestState.APPLIED],
                                             updated_since=seen.at - CLOCK_MARGIN_SECONDS)
        outside = tuple(f for f in moved if not bot_left(applied, f, current[f]))
        notice = None
        if outside:
            # The policy as the bot left it: the fields changed outside it as they were.
            before = {**current, **{f: seen.values.get(f) for f in outside}}
            detail = _with_broken("changed outside the bot", rules, db, before, current)
            notice = self._notice(NoticeKind.DRIFT, db, policy, detail, before=before, after=current, fields=outside)
        record = None if notice is None else AuditEvent(
            action="changed_outside", actor=WATCH_ACTOR, organization=db.organization, database=db.database,
            policy_id=policy.id, policy_name=policy.name, before=notice.before, after=current,
            sent={f: current[f] for f in outside}, detail=notice.detail)
        if not self.store.save_seen(holder, db.organization, db.database, policy.id, current, notice, record):
            raise _LeaseLost
        return notice


def _with_broken(what: str, rules: AccessRules, db: DatabaseRef, before: dict[str, Any],
                 after: dict[str, Any]) -> str:
    """What happened, and the guardrails the policy now breaks (after "; breaks ", which the notice shows apart)."""
    broken = [c.describe() for c in judge(rules.guardrails, db.organization, db.database, before, after).broken]
    return what + ("; breaks " + "; ".join(broken) if broken else "")


class _LeaseLost(Exception):
    pass


def _position(db: DatabaseRef) -> str:
    """A database's place in the cycle: the cursor is the last one read."""
    return f"{db.organization}/{db.database}"


def _made_before(policy: BackupPolicy, moment: float) -> bool:
    """Whether PlanetScale says the policy was created before `moment` (a time stamp); False when it cannot be
    read, so that such a policy is told rather than missed."""
    try:
        return parse_time(policy.created_at).timestamp() < moment
    except ValueError:
        return False

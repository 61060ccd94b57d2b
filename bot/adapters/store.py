"""All storage: change requests, their approvals, and the audit trail, on SQLAlchemy Core.

SQLite by default, PostgreSQL for several instances. Every state change of a request is one conditional
UPDATE (`… WHERE id = ? AND state IN (…)`), so simultaneous clicks, Slack retries or two instances behind a
load balancer move a request once. Schema changes are numbered migrations, run under a lock at start and by
`backup-bot migrate`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from bot.domain.audit import AuditEvent
from bot.domain.change_requests import OPEN_STATES, ChangeRequest, PendingGroup, RequestState
from bot.domain.ports import Claim
from bot.domain.watch import Notice, NoticeKind, Seen

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("bot.audit")

WATCH_LEASE = "watch"


def database_url(url: str) -> str:
    """SQLAlchemy's URL for a setting: `postgresql://` goes through psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


# PostgreSQL's bounds on one statement and on its wait for a lock (milliseconds): a database that stops answering
# (a table held by another session) ends the statement with an error instead of stalling its caller (and the
# watch, whose heartbeat would keep the lease meanwhile). The migration lifts them in its own transaction.
STATEMENT_TIMEOUT_MS = 30_000
LOCK_TIMEOUT_MS = 5_000

# An index entry of PostgreSQL holds at most about 2,700 bytes: a longer key is kept as its hash.
LONGEST_KEY = 300


def short_key(key: str) -> str:
    """A primary key made of names from outside: as it is, or past LONGEST_KEY characters its first part (up to
    the policy ID, so prefix searches by database still find it) and the SHA-256 of the whole."""
    if len(key) <= LONGEST_KEY:
        return key
    head = "/".join(key.split("/", 2)[:2])[:1000]
    return f"{head}/#sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def seen_key(organization: str, database: str, policy_id: str) -> str:
    return short_key(f"{organization}/{database}/{policy_id}")


class Store:
    """The database. Its engine (and SQLAlchemy) is made on first use; `ready` gates every use until the
    schema is known to be current, for a server that migrates after it has started listening."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time):
        self.url = database_url(url)
        self.clock = clock
        self.ready = threading.Event()
        self.ready.set()
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        self.ready.wait()
        return self._connect()

    def _connect(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        import sqlalchemy as sa

        sqlite = self.url.startswith("sqlite")
        engine: Engine = sa.create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {
                "connect_timeout": 5,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}",
            },
            pool_pre_ping=not sqlite,
        )
        if sqlite:
            # Writers take the lock at BEGIN, so conditional updates never meet a stale snapshot.
            @sa.event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _: Any) -> None:
                dbapi_connection.isolation_level = None
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
                # Durable across a crash of the process (kill -9 included); only a crash of the machine may
                # lose the last commits. SQLite's advice for WAL; several instances belong on PostgreSQL.
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")
                dbapi_connection.execute("PRAGMA busy_timeout=30000")

            @sa.event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # --- schema -------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations not yet applied; safe when several instances start at once."""
        import sqlalchemy as sa

        from bot.adapters.schema import MIGRATIONS, schema_version

        with self._connect().begin() as conn:
            if conn.dialect.name == "postgresql":
                # Another instance may hold the lock for as long as its migrations take.
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            schema_version.create(conn, checkfirst=True)
            done = set(conn.scalars(sa.select(schema_version.c.version)))
            for version, name, apply in MIGRATIONS:
                if version not in done:
                    apply(conn)
                    conn.execute(schema_version.insert().values(version=version, name=name,
                                                                applied_at=self.clock()))
            return int(max([v for v, _, _ in MIGRATIONS] + list(done)))

    def version(self) -> int:
        """The schema's version; 0 for a database never migrated."""
        import sqlalchemy as sa

        from bot.adapters.schema import schema_version

        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return int(conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0)

    def healthy(self) -> tuple[bool, str]:
        import sqlalchemy as sa

        from bot.adapters.schema import MIGRATIONS

        try:
            version = self.version()
        except sa.exc.SQLAlchemyError as exc:
            return False, f"database unreachable: {type(getattr(exc, 'orig', None) or exc).__name__}"
        latest = MIGRATIONS[-1][0]
        if version < latest:
            return False, f"schema at version {version}, needs {latest}: run `backup-bot migrate`"
        return True, f"schema version {version}"

    # --- change requests ------------------------------------------------------------------------------

    def add_request(self, request: ChangeRequest, record: AuditEvent | None = None) -> ChangeRequest:
        import sqlalchemy as sa

        from bot.adapters.schema import INSERT_REQUEST, change_requests

        try:
            with self.engine.begin() as conn:
                conn.execute(INSERT_REQUEST, _columns(request))
                logged = self._insert_event(conn, record)
        except sa.exc.IntegrityError:
            if request.revert_of is None:
                raise
            # Another instance asked the same revert first (one open revert per change): that one stands.
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(change_requests).where(
                    change_requests.c.revert_of == request.revert_of,
                    change_requests.c.state.in_(OPEN_STATES))).mappings().first()
            if row is None:
                raise
            return _request(row)
        _log_event(logged)
        return request

    def get_request(self, request_id: str) -> ChangeRequest | None:
        from bot.adapters.schema import SELECT_REQUEST

        with self.engine.connect() as conn:
            row = conn.execute(SELECT_REQUEST, {"request_id": request_id}).mappings().first()
        return _request(row) if row else None

    def transition(self, request_id: str, from_states: Sequence[RequestState], to: RequestState, *,
                   record: AuditEvent | None = None, release: Claim | None = None,
                   **values: Any) -> ChangeRequest | None:
        """Move a request from one of `from_states` to `to` in one conditional update; None if it was not there.
        In the same transaction, moved or not, `record` is recorded and `release`'s lease given back.

        With `release`, the move is also conditional on its claim still holding the policy's lease: a worker
        that outlived its lease (and was taken over) moves nothing and records nothing."""
        if release is not None and release.released:
            return None
        with self.engine.begin() as conn:
            if release is not None and not self._holds(conn, release):
                return None
            moved = self._transition(conn, request_id, from_states, to, values)
            logged = self._insert_event(conn, record)
            if release is not None:
                self._release(conn, release)
        _log_event(logged)
        if release is not None:
            release.released = True
        return moved

    @staticmethod
    def _holds(conn: Connection, claim: Claim) -> bool:
        """Whether `claim` still holds its policy's lease; FOR UPDATE, so no takeover slips in before the commit."""
        import sqlalchemy as sa

        from bot.adapters.schema import policy_leases

        return conn.scalar(sa.select(policy_leases.c.holder)
                           .where(policy_leases.c.policy_key == claim.request.policy_key,
                                  policy_leases.c.holder == claim.token).with_for_update()) is not None

    def _transition(self, conn: Connection, request_id: str, from_states: Sequence[RequestState], to: RequestState,
                    values: dict[str, Any]) -> ChangeRequest | None:
        from bot.adapters.schema import TRANSITION

        row = conn.execute(TRANSITION, {"request_id": request_id, "from_states": list(from_states), "state": to,
                                        "updated_at": self.clock(), **values}).mappings().first()
        return _request(row) if row is not None else None

    def claim_for_applying(self, request: ChangeRequest, from_states: Sequence[RequestState],
                           lease_seconds: float) -> Claim | None:
        """Take the policy's lease for this request and move the request to applying, both or neither.

        None when the request is no longer in `from_states` or the policy's lease is held: one change at a time
        per policy, across threads and instances. Each claim has its own token, so a worker whose lease was taken
        over (it outlived it) can tell, and moves the database's generation on, so any read of its policies taken
        before the claim is known to be stale."""
        now = self.clock()
        claim_token = str(uuid.uuid4())
        try:
            return self._claim(request, from_states, claim_token, now, now + lease_seconds)
        except _NotClaimed:
            return None

    def _claim(self, request: ChangeRequest, from_states: Sequence[RequestState], claim_token: str, now: float,
               until: float) -> Claim | None:
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests, policy_leases

        key = short_key(request.policy_key)
        with self.engine.begin() as conn:
            taken = conn.execute(
                policy_leases.update()
                .where(policy_leases.c.policy_key == key, policy_leases.c.until < now)
                .values(holder=claim_token, until=until, generation=policy_leases.c.generation + 1)
            ).rowcount
            if taken != 1:
                exists = conn.scalar(sa.select(policy_leases.c.policy_key).where(policy_leases.c.policy_key == key))
                if exists is not None:
                    return None
                try:
                    with conn.begin_nested():
                        conn.execute(policy_leases.insert().values(policy_key=key, holder=claim_token, until=until,
                                                                   generation=1))
                except sa.exc.IntegrityError:
                    return None
            # One request applying per policy: a PATCH whose outcome is not known yet keeps the policy from new
            # claims until the sweep settles it, even once its worker's lease has run out. (Settling a request
            # already applying is never held back: two left applying by an older version must both settle.)
            other = RequestState.APPLYING not in from_states and conn.scalar(sa.select(change_requests.c.id).where(
                change_requests.c.organization == request.organization,
                change_requests.c.database == request.database, change_requests.c.policy_id == request.policy_id,
                change_requests.c.state == RequestState.APPLYING, change_requests.c.id != request.id).limit(1))
            if other:
                raise _NotClaimed
            claimed = self._transition(conn, request.id, from_states, RequestState.APPLYING,
                                       {"lease_until": until})
            if claimed is None:
                raise _NotClaimed  # the lease goes back with the rolled-back transaction
            return Claim(claimed, claim_token, until,
                         self._database_generation(conn, request.organization, request.database))

    def renew(self, claim: Claim, lease_seconds: float, record: AuditEvent | None = None) -> bool:
        """Extend a claim's lease from now (before a PATCH) and record `record`; False (nothing recorded) if the
        lease was taken over meanwhile."""
        from bot.adapters.schema import change_requests, policy_leases

        until = self.clock() + lease_seconds
        with self.engine.begin() as conn:
            held = conn.execute(policy_leases.update()
                                .where(policy_leases.c.policy_key == short_key(claim.request.policy_key),
                                       policy_leases.c.holder == claim.token)
                                .values(until=until)).rowcount
            if held != 1:
                return False
            conn.execute(change_requests.update()
                         .where(change_requests.c.id == claim.request.id,
                                change_requests.c.state == RequestState.APPLYING)
                         .values(lease_until=until))
            logged = self._insert_event(conn, record)
        claim.until = until
        _log_event(logged)
        return True

    def release(self, claim: Claim) -> None:
        """Give the policy's lease back, if this claim still holds it (once: a release beside the request's last
        transition has given it back already)."""
        if claim.released:
            return
        with self.engine.begin() as conn:
            self._release(conn, claim)
        claim.released = True

    @staticmethod
    def _release(conn: Connection, claim: Claim) -> None:
        from bot.adapters.schema import policy_leases

        conn.execute(policy_leases.update()
                     .where(policy_leases.c.policy_key == short_key(claim.request.policy_key),
                            policy_leases.c.holder == claim.token)
                     .values(holder=None, until=0))

    def database_generation(self, organization: str, database: str) -> int:
        """How many times the bot has claimed this database's policies to change them: a read of them taken at
        one generation may be stale at the next."""
        with self.engine.connect() as conn:
            return self._database_generation(conn, organization, database)

    @staticmethod
    def _database_generation(conn: Connection, organization: str, database: str) -> int:
        import sqlalchemy as sa

        from bot.adapters.schema import policy_leases

        prefix = f"{organization}/{database}/"
        return int(conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(policy_leases.c.generation), 0))
                               .where(policy_leases.c.policy_key.startswith(prefix, autoescape=True))) or 0)

    def set_message(self, request_id: str, channel: str, ts: str) -> None:
        from bot.adapters.schema import change_requests

        with self.engine.begin() as conn:
            conn.execute(change_requests.update().where(change_requests.c.id == request_id)
                         .values(message_channel=channel, message_ts=ts))

    def adopt_message(self, request_id: str, channel: str, ts: str) -> bool:
        """Record where the request's message is, learnt from a click on it, unless it is known already: the
        process that posted it may have died between chat.postMessage and set_message."""
        from bot.adapters.schema import change_requests

        with self.engine.begin() as conn:
            return conn.execute(change_requests.update().where(change_requests.c.id == request_id,
                                                               change_requests.c.message_ts.is_(None))
                                .values(message_channel=channel, message_ts=ts)).rowcount == 1

    def add_approval(self, request_id: str, approver: str, record: AuditEvent | None = None) -> list[str] | None:
        """Count one approval once, recording `record` with it; returns all approvers so far, or None (nothing
        recorded) if this one had approved already."""
        import sqlalchemy as sa

        from bot.adapters.schema import SELECT_APPROVERS, approvals, change_requests

        with self.engine.begin() as conn:
            # Approvals of one request take turns: two clicked together each count the other's (PostgreSQL's read
            # committed would otherwise let each see only its own row). SQLite's BEGIN IMMEDIATE serializes already.
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(change_requests.c.id).where(change_requests.c.id == request_id)
                             .with_for_update())
            try:  # the primary key (request, approver) refuses a second approval by the same person
                with conn.begin_nested():
                    conn.execute(approvals.insert().values(request_id=request_id, approver=approver, at=self.clock()))
            except sa.exc.IntegrityError:
                return None
            logged = self._insert_event(conn, record)
            approved_by = list(conn.scalars(SELECT_APPROVERS, {"request_id": request_id}))
        _log_event(logged)
        return approved_by

    def claim_notice(self, request_id: str, notice: str) -> bool:
        """True for the one caller, on any instance, that may send this notice about this request."""
        import sqlalchemy as sa

        from bot.adapters.schema import request_notices

        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(request_notices.insert().values(request_id=request_id, notice=notice,
                                                                 at=self.clock()))
            except sa.exc.IntegrityError:
                return False
            return True

    def first_delivery(self, key: str) -> bool:
        """True for the one caller, on any instance, that may do the work of this request from Slack."""
        import sqlalchemy as sa

        from bot.adapters.schema import deliveries

        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(deliveries.insert().values(key=key, at=self.clock()))
            except sa.exc.IntegrityError:
                return False
            return True

    def forget_deliveries(self, before: float) -> None:
        """Requests seen before `before` are past any replay or retry: no need to remember them."""
        from bot.adapters.schema import deliveries

        with self.engine.begin() as conn:
            conn.execute(deliveries.delete().where(deliveries.c.at < before))

    def forget_notice(self, request_id: str, notice: str) -> None:
        """A notice that could not be sent may be tried again (by the next sweep or click)."""
        from bot.adapters.schema import request_notices

        with self.engine.begin() as conn:
            conn.execute(request_notices.delete().where(request_notices.c.request_id == request_id,
                                                        request_notices.c.notice == notice))

    def approvers_of(self, request_id: str) -> list[str]:
        from bot.adapters.schema import SELECT_APPROVERS

        with self.engine.connect() as conn:
            return list(conn.scalars(SELECT_APPROVERS, {"request_id": request_id}))

    def approvers_by_request(self, request_ids: Sequence[str]) -> dict[str, list[str]]:
        """`approvers_of` for many requests in one query: every ID is a key, in the order of approval."""
        import sqlalchemy as sa

        from bot.adapters.schema import approvals

        found: dict[str, list[str]] = {request_id: [] for request_id in request_ids}
        if not found:
            return found
        with self.engine.connect() as conn:
            for request_id, approver in conn.execute(
                    sa.select(approvals.c.request_id, approvals.c.approver)
                    .where(approvals.c.request_id.in_(list(found))).order_by(approvals.c.at)):
                found[request_id].append(approver)
        return found

    def requests(self, states: Sequence[RequestState] = OPEN_STATES, expired_before: float | None = None,
                 updated_before: float | None = None, lease_before: float | None = None,
                 limit: int | None = 200) -> list[ChangeRequest]:
        """Requests in `states`, the oldest first; at most `limit` of them (None: all)."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests

        query = sa.select(change_requests).where(change_requests.c.state.in_(list(states)))
        if expired_before is not None:
            query = query.where(change_requests.c.expires_at < expired_before)
        if updated_before is not None:
            query = query.where(change_requests.c.updated_at < updated_before)
        if lease_before is not None:
            query = query.where(change_requests.c.lease_until < lease_before)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(change_requests.c.created_at).limit(limit)).mappings().all()
        return [_request(r) for r in rows]

    def open_count(self) -> int:
        """How many requests are open (for the metrics)."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(r).where(
                r.c.state.in_([s.value for s in OPEN_STATES]))) or 0)

    def pending_groups(self, user: str, now: float) -> list[tuple[PendingGroup, int]]:
        """Pending requests not expired at `now`, `user`'s own and those `user` has not approved, counted by what
        access is judged on."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        first, second = _targets(r)
        own = r.c.requester == user
        query = (sa.select(r.c.organization, r.c.database, r.c.channel, first, second, own, sa.func.count())
                 .where(*_pending_now(r, now), sa.or_(own, _not_approved_by(r, user)))
                 .group_by(r.c.organization, r.c.database, r.c.channel, first, second, own))
        with self.engine.connect() as conn:
            return [(PendingGroup(org, db, channel, (t1, t2 or t1), bool(mine)), int(count))
                    for org, db, channel, t1, t2, mine, count in conn.execute(query)]

    def pending_page(self, user: str, now: float, groups: Sequence[PendingGroup] | None,
                     limit: int) -> list[ChangeRequest]:
        """The oldest `limit` pending requests not expired at `now`: `user`'s own (`groups` None), or of `groups`
        by others and not yet approved by `user`."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r

        query = sa.select(r).where(*_pending_now(r, now))
        if groups is None:
            query = query.where(r.c.requester == user)
        else:
            first, second = _targets(r)
            query = query.where(r.c.requester != user, _not_approved_by(r, user), sa.or_(*(
                sa.and_(r.c.organization == g.organization, r.c.database == g.database, r.c.channel == g.channel,
                        first == g.targets[0], sa.func.coalesce(second, first) == g.targets[1]) for g in groups)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(r.c.created_at).limit(limit)).mappings().all()
        return [_request(row) for row in rows]

    def reminders_due(self, moments: Sequence[tuple[str, float, float]], now: float) -> list[ChangeRequest]:
        """Pending requests not expired where a moment (notice, share of life, seconds before) has passed and its
        notice is not claimed; with a second's margin for the arithmetic (the caller checks each)."""
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests as r
        from bot.adapters.schema import request_notices as n

        if not moments:
            return []
        due = [sa.and_(r.c.created_at + (r.c.expires_at - r.c.created_at) * share - before <= now + 1,
                       ~sa.exists().where(n.c.request_id == r.c.id, n.c.notice == notice))
               for notice, share, before in moments]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r).where(*_pending_now(r, now), sa.or_(*due))
                                .order_by(r.c.created_at)).mappings().all()
        return [_request(row) for row in rows]

    # --- audit trail -----------------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        with self.engine.begin() as conn:
            logged = self._insert_event(conn, event)
        _log_event(logged)

    @staticmethod
    def _insert_event(conn: Connection, event: AuditEvent | None) -> dict[str, Any] | None:
        """Put `event` on the audit trail inside `conn`'s transaction; its values, to log once committed."""
        from bot.adapters.schema import INSERT_EVENT

        if event is None:
            return None
        values = _columns(event)
        conn.execute(INSERT_EVENT, values)
        return values

    def latest(self, organization: str, database: str, policy_refs: Sequence[str], limit: int) -> list[AuditEvent]:
        """The newest entries of a database, or of the policies named by `policy_refs` (IDs or exact names)."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events as t

        query = sa.select(t).where(t.c.organization == organization, t.c.database == database)
        # One query a reference and a column, each down its own index from the newest: an OR of them made the
        # database read its whole trail (or the policy's, sorted) for the newest few.
        queries = [query.where(column == ref) for ref in dict.fromkeys(policy_refs)
                   for column in (t.c.policy_id, t.c.policy_name)] or [query]
        found: dict[int, Any] = {}
        with self.engine.connect() as conn:
            for each in queries:
                for row in conn.execute(each.order_by(t.c.seq.desc()).limit(limit)).mappings():
                    found[row["seq"]] = row
        return [_event(found[seq]) for seq in sorted(found, reverse=True)[:limit]]

    def latest_of(self, actions: Sequence[str], limit: int) -> list[AuditEvent]:
        """The newest entries of these kinds, across databases (for a person's App Home), newest first."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit_events).where(audit_events.c.action.in_(list(actions)))
                                .order_by(audit_events.c.seq.desc()).limit(limit)).mappings().all()
        return [_event(r) for r in rows]

    def events_of_request(self, request_id: str) -> list[AuditEvent]:
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit_events).where(audit_events.c.request_id == request_id)
                                .order_by(audit_events.c.seq)).mappings().all()
        return [_event(r) for r in rows]

    def all_events(self, batch: int = 500) -> Iterator[AuditEvent]:
        return self.events(batch=batch)

    def events(self, since: str | None = None, until: str | None = None, organization: str | None = None,
               database: str | None = None, actor: str | None = None, batch: int = 500) -> Iterator[AuditEvent]:
        """Audit entries oldest first, read a batch at a time (constant memory however long the trail);
        `since` and `until` are times as entries write them (2026-01-31T00:00:00Z), `since` included."""
        for row in self._event_rows(since, until, organization, database, actor, batch):
            yield _event(row)

    def event_values(self, since: str | None = None, until: str | None = None, organization: str | None = None,
                     database: str | None = None, actor: str | None = None,
                     batch: int = 2000) -> Iterator[dict[str, Any]]:
        """`events` as each entry's fields and values, for an export: no entry is built only to be taken apart."""
        names = [f.name for f in fields(AuditEvent)]
        for row in self._event_rows(since, until, organization, database, actor, batch):
            yield {name: row[name] for name in names}

    def _event_rows(self, since: str | None, until: str | None, organization: str | None, database: str | None,
                    actor: str | None, batch: int) -> Iterator[Any]:
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events as t

        conditions = [c for c in (
            t.c.organization == organization if organization else None,
            t.c.database == database if database else None,
            t.c.actor == actor if actor else None) if c is not None]
        if since:
            conditions.append(t.c.at >= since)
        if until:
            conditions.append(t.c.at < until)
        # Between two times, in order of time down the index by time (then by entry, for the ties of a second);
        # otherwise in the order written.
        timed = bool(since or until)
        order = (t.c.at, t.c.seq) if timed else (t.c.seq,)
        after: tuple[Any, ...] | None = None
        while True:
            query = sa.select(t).where(*conditions)
            if after is not None:
                query = query.where(sa.tuple_(*order) > sa.tuple_(*after) if timed else t.c.seq > after[0])
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(*order).limit(batch)).mappings().all()
            if not rows:
                return
            yield from rows
            after = tuple(rows[-1][c.name] for c in order)

    def prune_events(self, before: str) -> tuple[int, int]:
        """Deletes the audit entries written before `before`, except those of a request still open (pending,
        approved or being applied): (deleted, kept because their request is open)."""
        import sqlalchemy as sa

        from bot.adapters.schema import audit_events as t
        from bot.adapters.schema import change_requests as r

        open_ids = sa.select(r.c.id).where(r.c.state.in_([s.value for s in OPEN_STATES]))
        old = t.c.at < before
        with self.engine.begin() as conn:
            kept = conn.execute(sa.select(sa.func.count()).select_from(t)
                                .where(old, t.c.request_id.in_(open_ids))).scalar_one()
            deleted = conn.execute(t.delete().where(
                old, sa.or_(t.c.request_id.is_(None), t.c.request_id.not_in(open_ids)))).rowcount
        return int(deleted or 0), int(kept)

    # --- the watch -------------------------------------------------------------------------------------

    def take_watch_lease(self, holder: str, seconds: float) -> bool:
        """Take or extend the watch lease: held by `holder`, or free, or its holder's time is up."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_lease

        now = self.clock()
        with self.engine.begin() as conn:
            taken = conn.execute(watch_lease.update()
                                 .where(watch_lease.c.name == WATCH_LEASE,
                                        sa.or_(watch_lease.c.holder == holder, watch_lease.c.until < now))
                                 .values(holder=holder, until=now + seconds)).rowcount
            if taken == 1:
                return True
            if conn.scalar(sa.select(watch_lease.c.name).where(watch_lease.c.name == WATCH_LEASE)) is not None:
                return False
            try:
                with conn.begin_nested():
                    conn.execute(watch_lease.insert().values(name=WATCH_LEASE, holder=holder, until=now + seconds))
            except sa.exc.IntegrityError:
                return False
            return True

    def release_watch_lease(self, holder: str) -> None:
        from bot.adapters.schema import watch_lease

        with self.engine.begin() as conn:
            conn.execute(watch_lease.update().where(watch_lease.c.name == WATCH_LEASE, watch_lease.c.holder == holder)
                         .values(holder=None, until=0))

    def _holds_watch(self, conn: Connection, holder: str) -> bool:
        # FOR UPDATE: a takeover waits for this transaction, so what it writes is the holder's alone.
        import sqlalchemy as sa

        from bot.adapters.schema import watch_lease

        until = conn.scalar(sa.select(watch_lease.c.until).where(watch_lease.c.name == WATCH_LEASE,
                                                                 watch_lease.c.holder == holder).with_for_update())
        return until is not None and until >= self.clock()

    def seen_policies(self, organization: str, database: str) -> dict[str, Seen]:
        import sqlalchemy as sa

        from bot.adapters.schema import watch_seen

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(watch_seen).where(watch_seen.c.organization == organization,
                                                            watch_seen.c.database == database)).mappings().all()
        return {r["policy_id"]: Seen(dict(r["policy"]), r["problem"], r["seen_at"]) for r in rows}

    def save_seen(self, holder: str, organization: str, database: str, policy_id: str, values: dict[str, Any],
                  notice: Notice | None, record: AuditEvent | None = None) -> bool:
        """The policy as seen now, what the watch has to tell about it and its audit entry, all or none; False
        when the lease is no longer `holder`'s."""
        from bot.adapters.schema import watch_seen

        key = seen_key(organization, database, policy_id)
        with self.engine.begin() as conn:
            if not self._holds_watch(conn, holder):
                return False
            moved = conn.execute(watch_seen.update().where(watch_seen.c.policy_key == key)
                                 .values(policy=values, seen_at=self.clock())).rowcount
            if moved != 1:
                conn.execute(watch_seen.insert().values(policy_key=key, organization=organization, database=database,
                                                        policy_id=policy_id, policy=values, problem=None,
                                                        seen_at=self.clock()))
            if notice is not None:
                self._add_notice(conn, notice)
            logged = self._insert_event(conn, record)
        _log_event(logged)
        return True

    def save_baseline(self, holder: str, organization: str, database: str,
                      policies: dict[str, dict[str, Any]]) -> bool:
        """The first read of a database, every policy in one transaction: a pass cut short saves none of them,
        so the next one is a baseline again rather than taking the policies not saved for new ones. False when
        the lease is no longer `holder`'s."""
        from bot.adapters.schema import watch_seen

        with self.engine.begin() as conn:
            if not self._holds_watch(conn, holder):
                return False
            for policy_id, values in policies.items():
                conn.execute(watch_seen.insert().values(
                    policy_key=seen_key(organization, database, policy_id), organization=organization,
                    database=database, policy_id=policy_id, policy=values, problem=None, seen_at=self.clock()))
            return True

    def save_problem(self, holder: str, organization: str, database: str, policy_id: str, problem: str | None,
                     notice: Notice | None, record: AuditEvent | None = None) -> bool:
        from bot.adapters.schema import watch_seen

        key = seen_key(organization, database, policy_id)
        with self.engine.begin() as conn:
            if not self._holds_watch(conn, holder):
                return False
            conn.execute(watch_seen.update().where(watch_seen.c.policy_key == key).values(problem=problem))
            if notice is not None:
                self._add_notice(conn, notice)
            logged = self._insert_event(conn, record)
        _log_event(logged)
        return True

    @staticmethod
    def _add_notice(conn: Connection, notice: Notice) -> None:
        from bot.adapters.schema import watch_notices

        values = asdict(notice)
        values["fields"] = list(notice.fields)
        conn.execute(watch_notices.insert().values(**values, posted_at=None))

    def policy_requests(self, organization: str, database: str, policy_id: str, states: Sequence[RequestState],
                        updated_since: float | None = None) -> list[ChangeRequest]:
        import sqlalchemy as sa

        from bot.adapters.schema import change_requests

        query = sa.select(change_requests).where(change_requests.c.organization == organization,
                                                 change_requests.c.database == database,
                                                 change_requests.c.policy_id == policy_id,
                                                 change_requests.c.state.in_(list(states)))
        if updated_since is not None:
            query = query.where(change_requests.c.updated_at >= updated_since)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(change_requests.c.created_at)).mappings().all()
        return [_request(r) for r in rows]

    def unposted_notices(self, limit: int = 50) -> list[Notice]:
        import sqlalchemy as sa

        from bot.adapters.schema import watch_notices

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(watch_notices).where(watch_notices.c.posted_at.is_(None))
                                .order_by(watch_notices.c.created_at).limit(limit)).mappings().all()
        return [_notice(r) for r in rows]

    def claim_watch_notice(self, notice_id: str, holder: str, seconds: float) -> bool:
        """Claim an unposted watch notice to post it, so that one instance posts it; `watch_notice_posted` once
        posted, `unclaim_watch_notice` if that failed. A claim `holder` could not release is its own to take again,
        and anyone's once `seconds` have passed: a notice whose unclaim failed is not lost."""
        import sqlalchemy as sa

        from bot.adapters.schema import watch_notices as t

        now = self.clock()
        with self.engine.begin() as conn:
            return conn.execute(t.update().where(t.c.id == notice_id, t.c.posted_at.is_(None),
                                                 sa.or_(t.c.claimed_until.is_(None), t.c.claimed_by == holder,
                                                        t.c.claimed_until < now))
                                .values(claimed_by=holder, claimed_until=now + seconds)).rowcount == 1

    def watch_notice_posted(self, notice_id: str) -> None:
        from bot.adapters.schema import watch_notices

        with self.engine.begin() as conn:
            conn.execute(watch_notices.update().where(watch_notices.c.id == notice_id)
                         .values(posted_at=self.clock(), claimed_by=None, claimed_until=None))

    def unclaim_watch_notice(self, notice_id: str) -> None:
        from bot.adapters.schema import watch_notices

        with self.engine.begin() as conn:
            conn.execute(watch_notices.update().where(watch_notices.c.id == notice_id)
                         .values(claimed_by=None, claimed_until=None))

    def get_notice(self, notice_id: str) -> Notice | None:
        import sqlalchemy as sa

        from bot.adapters.schema import watch_notices

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(watch_notices).where(watch_notices.c.id == notice_id)).mappings().first()
        return _notice(row) if row else None


class _NotClaimed(Exception):
    pass


def _pending_now(r: Any, now: float) -> tuple[Any, Any]:
    return r.c.state == RequestState.PENDING.value, r.c.expires_at > now


def _targets(r: Any) -> tuple[Any, Any]:
    """The policy's target as asked and the new one of a move (NULL when it stays), as the JSON holds them."""
    return r.c.before["target"].as_string(), r.c.changes["target"].as_string()


def _not_approved_by(r: Any, user: str) -> Any:
    import sqlalchemy as sa

    from bot.adapters.schema import approvals as a

    return ~sa.exists().where(a.c.request_id == r.c.id, a.c.approver == user)


def _notice(row: Any) -> Notice:
    return Notice(kind=NoticeKind(row["kind"]), organization=row["organization"], database=row["database"],
                  policy_id=row["policy_id"], policy_name=row["policy_name"], detail=row["detail"],
                  before=row["before"], after=row["after"], fields=tuple(row["fields"] or ()), id=row["id"],
                  created_at=row["created_at"])




def _columns(row: ChangeRequest | AuditEvent) -> dict[str, Any]:
    """A request's or an audit entry's fields as column values. Not `asdict`, which deep-copies every nested
    dict and list (a millisecond of each change's CPU); the values are only read, to be written."""
    return {f.name: getattr(row, f.name) for f in fields(row)}


def _request(row: Any) -> ChangeRequest:
    request = ChangeRequest(**{f.name: row[f.name] for f in fields(ChangeRequest)})
    request.state = RequestState(request.state)
    return request


def _event(row: Any) -> AuditEvent:
    return AuditEvent(**{f.name: row[f.name] for f in fields(AuditEvent)})


def _log_event(values: dict[str, Any] | None) -> None:
    """An audit entry in the log as well, once it is committed."""
    if values is not None and log.isEnabledFor(logging.INFO):
        log.info("audit %s", values.get("action"), extra={"audit": values})

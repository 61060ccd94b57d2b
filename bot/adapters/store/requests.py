"""Change requests, and the policies' leases their workers hold while applying them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.adapters.store.audit import AuditTrail
from bot.adapters.store.due import skipping_held
from bot.adapters.store.inbox import done_with
from bot.adapters.store.row_waits import row_held
from bot.adapters.store.rows import (
    FARTHEST_EXPIRY_SECONDS,
    LEASE_DAMAGED,
    TIME_DAMAGED,
    Damaged,
    by_age,
    columns,
    could_be_an_id,
    damaged,
    damaged_until,
    database_prefix,
    lease_key,
    log_event,
    request_of,
    requests_of,
    short_key,
)
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import DATABASE_LEASE, OPEN_STATES, ChangeRequest, RequestState
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.domain.ports import Claim

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class NotClaimed(Exception):
    pass


class Requests(AuditTrail):
    def row_held(self, exc: BaseException) -> bool:
        return row_held(exc)

    def note_damaged(self, request_id: str, what: str) -> None:
        damaged(self.damaged, "change request", request_id, what,
                then="nothing is sent on it, and the bot says so wherever it comes to it")

    def add_request(self, request: ChangeRequest, record: AuditEvent | None = None) -> ChangeRequest:
        import sqlalchemy as sa

        from bot.adapters.schema import INSERT_REQUEST, REQUEST_COLUMNS, change_requests

        try:
            with self.engine.begin() as conn:
                # A pending one takes turns with the sweep's judging from the start: its approvers may leave.
                turn = self.clock() + JUDGE_AGAIN_SECONDS if request.state is RequestState.PENDING else None
                conn.execute(INSERT_REQUEST, {**columns(request), "target": request.before.get("target"),
                                              "judge_at": turn})
                logged = self._insert_event(conn, record)
                if request.state is not RequestState.PENDING:
                    # Approved at once: the sweep carries it on from here. A pending one's work is done when its
                    # message is posted (set_message), its approvers shown.
                    done_with(conn)
        except sa.exc.IntegrityError:
            stored = self.get_request(request.id)
            if stored is not None:  # its work, redone by another instance at once, stored it first
                return stored
            if request.revert_of is None:
                raise
            # Another instance asked the same revert first (one open revert per change): that one stands.
            with self.reader.connect() as conn:
                row = conn.execute(sa.select(*REQUEST_COLUMNS).where(
                    change_requests.c.revert_of == request.revert_of,
                    change_requests.c.state.in_(OPEN_STATES))).mappings().first()
            standing = request_of(row, self.damaged) if row is not None else None
            if standing is None:
                raise
            return standing
        log_event(logged)
        return request

    def get_request(self, request_id: str) -> ChangeRequest | None:
        from bot.adapters.schema import SELECT_REQUEST

        if not could_be_an_id(request_id):
            return None
        with self.reader.connect() as conn:
            row = conn.execute(SELECT_REQUEST, {"request_id": request_id}).mappings().first()
        return request_of(row, self.damaged) if row else None

    def transition(self, request_id: str, from_states: Sequence[RequestState], to: RequestState, *,
                   record: AuditEvent | None = None, release: Claim | None = None, alive: bool = False,
                   **values: Any) -> ChangeRequest | None:
        """Move a request from one of `from_states` to `to` in one conditional update; None if it was not there
        (or, with `alive`, if its life has ended by the clock: an approval never outlives the request).
        In the same transaction, `record` is recorded if it moved, and `release`'s lease given back either way.

        With `release`, the move is also conditional on its claim still holding the policy's lease: a worker
        that outlived its lease (and was taken over) moves nothing and records nothing."""
        if release is not None and release.released:
            return None
        with self.engine.begin() as conn:
            if release is not None and not self._holds(conn, release):
                return None
            moved = self._transition(conn, request_id, from_states, to, values, alive)
            logged = self._insert_event(conn, record if moved is not None else None)
            if release is not None:
                self._release(conn, release)
        log_event(logged)
        if release is not None:
            release.released = True
        return moved

    @staticmethod
    def _holds(conn: Connection, claim: Claim) -> bool:
        """Whether `claim` still holds its policy's lease; FOR UPDATE, so no takeover slips in before the commit."""
        import sqlalchemy as sa

        from bot.adapters.schema import policy_leases

        return conn.scalar(sa.select(policy_leases.c.holder)
                           .where(policy_leases.c.policy_key == lease_key(claim.request),
                                  policy_leases.c.holder == claim.token).with_for_update()) is not None

    def _transition(self, conn: Connection, request_id: str, from_states: Sequence[RequestState], to: RequestState,
                    values: dict[str, Any], alive: bool = False) -> ChangeRequest | None:
        from bot.adapters.schema import TRANSITION, change_requests

        now = self.clock()
        statement = TRANSITION.where(change_requests.c.expires_at > now) if alive else TRANSITION
        row = conn.execute(statement, {"request_id": request_id, "from_states": list(from_states), "state": to,
                                       "updated_at": now, **values}).mappings().first()
        if row is None:
            return None
        moved = request_of(row, self.damaged)
        if moved is None:
            raise Damaged(request_id)  # its move rolls back: a damaged request moves nowhere
        return moved

    def claim_for_applying(self, request: ChangeRequest, from_states: Sequence[RequestState],
                           lease_seconds: float) -> Claim | None:
        """Take the policy's lease for this request and move the request to applying, both or neither.

        None when the request is no longer in `from_states` or the policy's lease is held: one change at a time
        per policy, across threads and instances. With no `from_states`, the request is one being asked, not
        stored yet: only the lease is taken, so that its policy is read under it; it is stored applying if it
        applies at once. Each claim has its own token, so a worker whose lease was taken
        over (it outlived it) can tell, and moves the database's generation on, so any read of its policies taken
        before the claim is known to be stale."""
        now = self.clock()
        claim_token = str(uuid.uuid4())
        try:
            return self._claim(request, from_states, claim_token, now, now + lease_seconds)
        except NotClaimed:
            return None

    def _claim(self, request: ChangeRequest, from_states: Sequence[RequestState], claim_token: str, now: float,
               until: float) -> Claim | None:
        import sqlalchemy as sa

        from bot.adapters.schema import policy_leases

        key = lease_key(request)
        with self.engine.begin() as conn:
            self._lock_database(conn, request.organization, request.database)
            taken = conn.execute(
                policy_leases.update()
                .where(policy_leases.c.policy_key == key, policy_leases.c.until < now)
                .values(holder=claim_token, until=until, generation=policy_leases.c.generation + 1)
            ).rowcount
            # A damaged until is taken over: no comparison with now frees it, and the policy's changes would wait
            # for good. Only when nothing was taken: the claim's common path stays one statement.
            if taken != 1 and conn.execute(
                    policy_leases.update()
                    .where(policy_leases.c.policy_key == key, damaged_until(policy_leases.c.until, now))
                    .values(holder=claim_token, until=until, generation=policy_leases.c.generation + 1)
            ).rowcount == 1:
                taken = 1
                damaged(self.damaged, "policy lease", key, LEASE_DAMAGED)
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
            if self._other_level_held(conn, request, key, now):
                raise NotClaimed
            # One request applying per policy: a PATCH whose outcome is not known yet keeps the policy from new
            # claims until the sweep settles it, even once its worker's lease has run out. (Settling a request
            # already applying is never held back: two left applying by an older version must both settle.)
            if RequestState.APPLYING not in from_states and self._applying_beside(conn, request):
                raise NotClaimed
            if not from_states:
                return Claim(request, claim_token, until,
                             self._database_generation(conn, request.organization, request.database))
            # This version's claim: whatever it leaves applying has its 'sending' entry before a PATCH leaves.
            values: dict[str, object] = {"lease_until": until}
            if RequestState.APPLYING not in from_states:
                values["left_by_older"] = False
            claimed = self._transition(conn, request.id, from_states, RequestState.APPLYING, values)
            if claimed is None:
                raise NotClaimed  # the lease goes back with the rolled-back transaction
            return Claim(claimed, claim_token, until,
                         self._database_generation(conn, request.organization, request.database))

    @staticmethod
    def _other_level_held(conn: Connection, request: ChangeRequest, key: str, now: float) -> bool:
        """Whether the other level's lease is held: for a claim under the database's lease, a policy's of the
        database; under a policy's, the database's. A change being asked holds its lease with nothing stored
        applying yet, and reads and sends under it: a move, creation or deletion may not land meanwhile."""
        import sqlalchemy as sa

        from bot.adapters.schema import policy_leases

        database_key = short_key(request.organization, request.database, DATABASE_LEASE)
        # A damaged until holds nothing: the claim at its own level takes it over.
        held = sa.select(policy_leases.c.policy_key).where(policy_leases.c.holder.is_not(None),
                                                           policy_leases.c.until >= now,
                                                           sa.not_(damaged_until(policy_leases.c.until, now)))
        if key == database_key:
            held = held.where(policy_leases.c.policy_key.startswith(
                                  database_prefix(request.organization, request.database), autoescape=True),
                              policy_leases.c.policy_key != database_key)
        else:
            held = held.where(policy_leases.c.policy_key == database_key)
        return conn.scalar(held.limit(1)) is not None

    def _applying_beside(self, conn: Connection, request: ChangeRequest) -> bool:
        """Whether another request applies on the policy, or, for one under the database's lease, another under
        it on the same database: a creation, deletion or move whose outcome is not known yet keeps the database's
        lease as an unconfirmed PATCH keeps the policy's."""
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS, change_requests

        applying = sa.select(*REQUEST_COLUMNS).where(
            change_requests.c.organization == request.organization, change_requests.c.database == request.database,
            change_requests.c.state == RequestState.APPLYING, change_requests.c.id != request.id)
        if not request.policy_key.endswith(DATABASE_LEASE):
            applying = applying.where(change_requests.c.policy_id == request.policy_id)
        # A damaged one applying counts as beside it: what it sends is not known.
        return any(r["policy_id"] == request.policy_id or (other := request_of(r, self.damaged)) is None
                   or other.policy_key == request.policy_key for r in conn.execute(applying).mappings())

    @staticmethod
    def _lock_database(conn: Connection, organization: str, database: str) -> None:
        """Every claim on a database, under the policy's lease or the database's, first locks the database's lease
        row until it commits: the check that nothing else applies on the policy then sees the other level's claim."""
        import sqlalchemy as sa

        from bot.adapters.schema import policy_leases

        key = short_key(organization, database, DATABASE_LEASE)
        locked = sa.select(policy_leases.c.policy_key).where(policy_leases.c.policy_key == key).with_for_update()
        if conn.scalar(locked) is not None:
            return
        try:
            with conn.begin_nested():  # never held yet: a free row (generation 0 adds nothing to the sum)
                conn.execute(policy_leases.insert().values(policy_key=key, holder=None, until=0, generation=0))
        except sa.exc.IntegrityError:
            pass  # another claim made it first, and has committed
        conn.scalar(locked)

    def renew(self, claim: Claim, lease_seconds: float, record: AuditEvent | None = None) -> bool:
        """Extend a claim's lease from now (before a PATCH) and record `record`; False (nothing recorded) if the
        lease was taken over meanwhile, or has run out: a claim at the other level (a move, creation or deletion
        under the database's lease) may have landed on the policy since, without taking this lease."""
        from bot.adapters.schema import change_requests, policy_leases

        now = self.clock()
        until = now + lease_seconds
        with self.engine.begin() as conn:
            self._lock_database(conn, claim.request.organization, claim.request.database)
            held = conn.execute(policy_leases.update()
                                .where(policy_leases.c.policy_key == lease_key(claim.request),
                                       policy_leases.c.holder == claim.token, policy_leases.c.until >= now)
                                .values(until=until)).rowcount
            if held != 1:
                return False
            conn.execute(change_requests.update()
                         .where(change_requests.c.id == claim.request.id,
                                change_requests.c.state == RequestState.APPLYING)
                         .values(lease_until=until))
            logged = self._insert_event(conn, record)
        claim.until = until
        log_event(logged)
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
                     .where(policy_leases.c.policy_key == lease_key(claim.request),
                            policy_leases.c.holder == claim.token)
                     .values(holder=None, until=0))

    def database_generation(self, organization: str, database: str) -> int:
        """How many times the bot has claimed this database's policies to change them: a read of them taken at
        one generation may be stale at the next."""
        with self.reader.connect() as conn:
            return self._database_generation(conn, organization, database)

    @staticmethod
    def _database_generation(conn: Connection, organization: str, database: str) -> int:
        import sqlalchemy as sa

        from bot.adapters.schema import policy_leases

        prefix = database_prefix(organization, database)
        return int(conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(policy_leases.c.generation), 0))
                               .where(policy_leases.c.policy_key.startswith(prefix, autoescape=True))) or 0)

    def set_message(self, request_id: str, channel: str, ts: str) -> None:
        from bot.adapters.schema import change_requests

        with self.engine.begin() as conn:
            conn.execute(change_requests.update().where(change_requests.c.id == request_id)
                         .values(message_channel=channel, message_ts=ts))
            done_with(conn)  # the request is shown: the work that asked it is done

    def adopt_message(self, request_id: str, channel: str, ts: str) -> bool:
        """Record where the request's message is, learnt from a click on it, unless it is known already: the
        process that posted it may have died between chat.postMessage and set_message."""
        from bot.adapters.schema import change_requests

        with self.engine.begin() as conn:
            return conn.execute(change_requests.update().where(change_requests.c.id == request_id,
                                                               change_requests.c.message_ts.is_(None))
                                .values(message_channel=channel, message_ts=ts)).rowcount == 1

    def requests(self, states: Sequence[RequestState] = OPEN_STATES, expired_before: float | None = None,
                 updated_before: float | None = None, lease_before: float | None = None,
                 limit: int | None = 200, told: bool | None = None, shuffled: bool = False,
                 revert_of: str | None = None, unheld: bool = False) -> list[ChangeRequest]:
        """Requests in `states`, the oldest first (`shuffled`: in an order of chance, so that a caller taking the
        first `limit` of more, again and again, meets each of them in turn); at most `limit` of them (None: all);
        `revert_of`: only the reverts of that request; `unheld`: none another session holds (the sweep's,
        `skipping_held`)."""
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS, change_requests

        query = sa.select(*REQUEST_COLUMNS).where(change_requests.c.state.in_(list(states)))
        if expired_before is not None:
            # A damaged expiry (text, NaN, Infinity, past the longest wait the rules allow) is due too: no comparison
            # with the clock would ever say so, and its request would wait for good.
            query = query.where(sa.or_(change_requests.c.expires_at < expired_before,
                                       change_requests.c.expires_at > expired_before + FARTHEST_EXPIRY_SECONDS))
        if updated_before is not None:
            query = query.where(change_requests.c.updated_at < updated_before)
        if lease_before is not None:
            # A damaged lease (text, NaN, Infinity, a time no lease reaches) has run out too: no comparison with the
            # clock would ever say so, and its request would stay applying, its policy held, for good.
            query = query.where(sa.or_(change_requests.c.lease_until < lease_before,
                                       damaged_until(change_requests.c.lease_until, lease_before)))
        if told is not None:
            query = query.where(change_requests.c.told.is_(told))
        if revert_of is not None:
            query = query.where(change_requests.c.revert_of == revert_of)
        query, opened = skipping_held(self, query) if unheld else (query, self.reader.connect())
        with opened as conn:
            order = sa.func.random() if shuffled else change_requests.c.created_at
            rows = conn.execute(query.order_by(order).limit(limit)).mappings().all()
        if expired_before is not None:
            for row in rows:
                if not (isinstance(row["expires_at"], int | float) and row["expires_at"] < expired_before):
                    damaged(self.damaged, "expiry of change request", row["id"], TIME_DAMAGED)
        if lease_before is not None:
            for row in rows:
                until = row["lease_until"]
                if not (isinstance(until, int | float) and until < lease_before):
                    damaged(self.damaged, "lease of change request", row["id"], LEASE_DAMAGED)
        return requests_of(rows, self.damaged)

    def judging_turns(self, now: float, limit: int, next_at: float) -> list[ChangeRequest]:
        """Pending requests due to be judged again by `now`, the longest due first, at most `limit`; each due
        next at `next_at`, in the same write, so that another instance sweeping at once takes others."""
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS
        from bot.adapters.schema import change_requests as r

        # A damaged turn (text, NaN, Infinity, later than any request waits) is due too: no comparison with the
        # clock would ever make it come, and the request would wait until it expired.
        damaged_turn = r.c.judge_at > now + FARTHEST_EXPIRY_SECONDS
        due = (sa.select(r.c.id).where(r.c.state == RequestState.PENDING.value,
                                       sa.or_(r.c.judge_at <= now, damaged_turn))
               .order_by(r.c.judge_at).limit(limit).with_for_update(skip_locked=True))
        with self.engine.begin() as conn:
            before = {row.id: row.judge_at for row in conn.execute(sa.select(r.c.id, r.c.judge_at).where(
                r.c.state == RequestState.PENDING.value, damaged_turn))}
            rows = conn.execute(r.update().where(r.c.id.in_(due)).values(judge_at=next_at)
                                .returning(*REQUEST_COLUMNS)).mappings().all()
        for row in rows:
            if row["id"] in before:
                damaged(self.damaged, "turn of change request", row["id"], TIME_DAMAGED)
        return sorted(requests_of(rows, self.damaged), key=by_age)

    def judge_later(self, request_id: str, at: float) -> None:
        """The pending request due to be judged again at `at`."""
        from bot.adapters.schema import change_requests as r

        with self.engine.begin() as conn:
            conn.execute(r.update().where(r.c.id == request_id, r.c.state == RequestState.PENDING.value)
                         .values(judge_at=at))

    def policy_requests(self, organization: str, database: str, policy_id: str | None, states: Sequence[RequestState],
                        updated_since: float | None = None) -> list[ChangeRequest]:
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS, change_requests

        query = sa.select(*REQUEST_COLUMNS).where(change_requests.c.organization == organization,
                                                 change_requests.c.database == database,
                                                 change_requests.c.state.in_(list(states)))
        if policy_id is not None:
            query = query.where(change_requests.c.policy_id == policy_id)
        if updated_since is not None:
            query = query.where(change_requests.c.updated_at >= updated_since)
        with self.reader.connect() as conn:
            rows = conn.execute(query.order_by(change_requests.c.created_at)).mappings().all()
        return requests_of(rows, self.damaged)

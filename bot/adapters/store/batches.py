"""Bulk changes in the store (bot/domain/batches.py): a batch, its approvals and its members. Each decision
on a batch is one conditional write, so two clicks on two instances decide it once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from bot.adapters.store.audit import AuditTrail
from bot.adapters.store.due import skipping_held
from bot.adapters.store.inbox import done_with
from bot.adapters.store.rows import (
    FARTHEST_EXPIRY_SECONDS,
    NEWER_SKIPPED,
    TIME_DAMAGED,
    Damaged,
    approvers_by,
    by_age,
    columns,
    could_be_an_id,
    damaged,
    decoded,
    log_event,
    requests_of,
)
from bot.domain.audit import AuditEvent
from bot.domain.batches import UNSHOWN, Batch, BatchState, Member, Planned, Skipped, SkipReason
from bot.domain.change_requests import OPEN_STATES, ChangeRequest
from bot.domain.lifecycle import APPROVED_STALE_SECONDS, JUDGE_AGAIN_SECONDS
from bot.domain.outcomes import OutcomeKind, stored_policy

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# The batch's fields kept in its `plan` JSON; the rest are columns.
COLUMNS = ("id", "state", "organization", "requester", "channel", "decided_by", "message_channel", "message_ts",
           "created_at", "expires_at")
# What older releases kept in a plan and this one no longer reads: a bulk change they left pending still is one.
# `hidden`: the count of policies hidden from the asker, kept until revision 0021.
RETIRED_PLAN_KEYS = ("hidden",)
PLAN_UNREAD = "a plan this version does not read (JSON that does not decode, damaged, or a newer version's)"
PLAN_SKIPPED = ("it is skipped wherever this version reads it: a newer version's instances handle theirs; a damaged "
                "one is restored from a backup, or closed by hand")


def plan_of(batch: Batch) -> dict[str, Any]:
    values = asdict(batch)
    return {k: v for k, v in values.items() if k not in COLUMNS}


def batch_of(row: Any, seen: set[str]) -> Batch | None:
    """A bulk change from its row, None (logged once, counted) when its plan is damaged in the database: not
    JSON (SQLite keeps any text), or not the plan this version writes."""
    try:
        plan = dict(decoded(row["plan"]))
        for key in RETIRED_PLAN_KEYS:
            plan.pop(key, None)
        planned = [Planned(**p) for p in plan.pop("planned")]
        skipped = [Skipped(**{**s, "why": SkipReason(s["why"])}) for s in plan.pop("skipped")]
        batch = Batch(planned=planned, skipped=skipped, **plan, **{c: row[c] for c in COLUMNS})
        if not isinstance(batch.changes, dict) or not all(map(_readable, planned)):
            raise TypeError("not the plan this version writes")
    except (ValueError, TypeError, KeyError, AttributeError):
        damaged(seen, "bulk change", row["id"], PLAN_UNREAD, PLAN_SKIPPED)
        return None
    try:
        batch.state = BatchState(batch.state)
    except ValueError:  # A newer version's, sharing the database during a rolling deploy, or damaged
        damaged(seen, "bulk change", row["id"], f"a state ({batch.state!r}) this version does not know", NEWER_SKIPPED)
        return None
    return batch


def _readable(p: Planned) -> bool:
    """Whether a planned policy holds what the bot reads it as: names as text, the target it is judged on, its
    rules' counts as numbers. A value of another kind would raise wherever the bulk change is judged or shown."""
    if not (isinstance(p.before, dict) and isinstance(p.groups, dict) and isinstance(p.facts, dict | None)):
        return False
    texts = [p.database, p.policy_id, p.policy_name, *p.risks, *p.groups, p.before.get("target")]
    return (all(isinstance(text, str) for text in texts) and type(p.needed) is int
            and all(type(n) is int for n in p.groups.values()) and stored_policy(p.before) is not None)


def batches_of(rows: Iterable[Any], seen: set[str]) -> list[Batch]:
    """The bulk changes of these rows, those damaged left out: one hides no other."""
    return [batch for batch in (batch_of(row, seen) for row in rows) if batch is not None]


class Batches(AuditTrail):
    def _insert_events(self, conn: Connection, records: Sequence[AuditEvent]) -> list[dict[str, Any] | None]:
        return [self._insert_event(conn, record) for record in records]

    def add_batch(self, batch: Batch, records: Sequence[AuditEvent] = ()) -> Batch:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches

        with self.engine.begin() as conn:
            if batch.retry_of is not None:
                # Retries of one batch take turns on its row: a second one finds the first, pending, or applied
                # with a policy of its own (whose message offers what failed again there).
                conn.execute(sa.select(change_batches.c.created_at)
                             .where(change_batches.c.id == batch.retry_of).with_for_update()).scalar()
                keys = {p.key for p in batch.planned}
                asked = [b for b in self._retries(conn, batch.retry_of) if b.state is BatchState.PENDING
                         or keys & {p.key for p in b.planned}]
                if asked:
                    return asked[0]
            try:
                # A pending one takes turns with the sweep's judging from the start, approved or not: the rules
                # may come to refuse it whoever approves.
                turn = self.clock() + JUDGE_AGAIN_SECONDS if batch.state is BatchState.PENDING else None
                with conn.begin_nested():
                    conn.execute(change_batches.insert().values(plan=plan_of(batch), judge_at=turn,
                                                                **{c: getattr(batch, c) for c in COLUMNS}))
            except sa.exc.IntegrityError:
                # Its work, redone by another instance at once, stored it first (the same ID, derived from it).
                row = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.id == batch.id)).mappings().one()
                stored = batch_of(row, self.damaged)
                if stored is None:
                    raise Damaged(batch.id) from None
                return stored
            logged = self._insert_events(conn, records)
        for values in logged:
            log_event(values)
        return batch

    def retries_of(self, batch_id: str) -> list[Batch]:
        with self.reader.connect() as conn:
            return self._retries(conn, batch_id)

    def _retries(self, conn: Connection, batch_id: str) -> list[Batch]:
        """The retries of a batch still pending or approved, the oldest first."""
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches

        original = conn.execute(sa.select(change_batches.c.created_at)
                                .where(change_batches.c.id == batch_id)).scalar()
        rows = conn.execute(sa.select(*BATCH_COLUMNS).where(
            change_batches.c.state.in_([BatchState.PENDING.value, BatchState.APPROVED.value]),
            change_batches.c.created_at >= (original or 0)).order_by(change_batches.c.created_at)).mappings().all()
        return [b for b in batches_of(rows, self.damaged) if b.retry_of == batch_id]

    def get_batch(self, batch_id: str) -> Batch | None:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches

        if not could_be_an_id(batch_id):
            return None
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.id == batch_id)).mappings().first()
        return batch_of(row, self.damaged) if row else None

    def close_batch(self, batch_id: str, to: BatchState, decided_by: str | None,
                    records: Sequence[AuditEvent] = ()) -> Batch | None:
        from bot.adapters.schema import change_batches

        with self.engine.begin() as conn:
            moved = conn.execute(change_batches.update().where(
                change_batches.c.id == batch_id, change_batches.c.state == BatchState.PENDING.value)
                .values(state=to.value, decided_by=decided_by)).rowcount == 1
            # The records were built from the batch as the caller read it: a policy rejected since has its end
            # on the trail already. Read after the move, the plan is the one closed (its row is held).
            live = self._live(conn, batch_id) if moved else set()
            logged = self._insert_events(conn, [r for r in records if (r.database, r.policy_id) in live])
        for values in logged:
            log_event(values)
        return self.get_batch(batch_id) if moved else None

    def add_batch_approval(self, batch_id: str, approver: str,
                           records: Sequence[AuditEvent] = ()) -> list[str] | None:
        import sqlalchemy as sa

        from bot.adapters.schema import batch_approvals, change_batches

        with self.engine.begin() as conn:
            # Approvals of one batch take turns, with its closes, as those of one request do (Store.add_approval):
            # none lands after a cancel or a rejection.
            row = conn.execute(sa.select(change_batches.c.state, change_batches.c.expires_at)
                               .where(change_batches.c.id == batch_id).with_for_update()).first()
            if row is None or row.state != BatchState.PENDING.value or row.expires_at <= self.clock():
                return []
            try:
                with conn.begin_nested():
                    conn.execute(batch_approvals.insert().values(batch_id=batch_id, approver=approver,
                                                                 at=self.clock()))
            except sa.exc.IntegrityError:
                return None
            # Due for the sweep's judging once the click in flight is done, whatever becomes of the click.
            conn.execute(change_batches.update().where(change_batches.c.id == batch_id)
                         .values(judge_at=self.clock() + APPROVED_STALE_SECONDS))
            logged = self._insert_events(conn, records)
            approved_by = self._approvers(conn, batch_id)
        for values in logged:
            log_event(values)
        return approved_by

    def reject_planned(self, batch_id: str, rejecter: str, keys: Sequence[tuple[str, str]],
                       records: Sequence[AuditEvent]) -> Batch | None:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches

        with self.engine.begin() as conn:
            # Takes turns with the batch's approvals and closes on its row, as they do with each other.
            row = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.id == batch_id)
                               .with_for_update()).mappings().first()
            if row is None or row["state"] != BatchState.PENDING.value or row["expires_at"] <= self.clock():
                return None
            batch = batch_of(row, self.damaged)
            # Those rejected since the caller read the batch keep the end recorded by that rejection.
            wanted = set(keys) & ({p.key for p in batch.live} if batch is not None else set())
            if batch is None or not wanted:
                return None
            batch.planned = [replace(p, rejected_by=rejecter) if p.rejected_by is None and p.key in wanted else p
                             for p in batch.planned]
            values: dict[str, Any] = {"plan": plan_of(batch)}
            if not batch.live:
                batch.state, batch.decided_by = BatchState.REJECTED, rejecter
                values.update(state=batch.state.value, decided_by=rejecter)
            conn.execute(change_batches.update().where(change_batches.c.id == batch_id).values(**values))
            logged = self._insert_events(conn, [r for r in records if (r.database, r.policy_id) in wanted])
        for event in logged:
            log_event(event)
        return batch

    def _live(self, conn: Connection, batch_id: str) -> set[tuple[str, str]]:
        """The (database, policy ID) of the batch's policies still in its change, as stored."""
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches

        row = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.id == batch_id)).mappings().first()
        batch = batch_of(row, self.damaged) if row is not None else None
        return {p.key for p in batch.live} if batch is not None else set()

    def batch_approvers(self, batch_id: str) -> list[str]:
        with self.reader.connect() as conn:
            return self._approvers(conn, batch_id)

    def approvers_by_batch(self, batch_ids: Sequence[str]) -> dict[str, list[str]]:
        """`batch_approvers` for many batches in one query: every ID is a key, in the order of approval."""
        from bot.adapters.schema import batch_approvals

        return approvers_by(self.reader, batch_approvals, "batch_id", batch_ids)

    @staticmethod
    def _approvers(conn: Connection, batch_id: str) -> list[str]:
        import sqlalchemy as sa

        from bot.adapters.schema import batch_approvals

        return list(conn.scalars(sa.select(batch_approvals.c.approver)
                                 .where(batch_approvals.c.batch_id == batch_id).order_by(batch_approvals.c.at)))

    def approve_batch(self, batch_id: str, decided_by: str, members: Sequence[ChangeRequest],
                      approvers: Sequence[str]) -> bool:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, INSERT_REQUEST, approvals, batch_members, change_batches

        now = self.clock()
        with self.engine.begin() as conn:
            # Takes turns with its rejections on its row: a policy rejected since the caller read the batch is
            # never made a member (the caller judges what is left again).
            row = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.id == batch_id)
                               .with_for_update()).mappings().first()
            batch = batch_of(row, self.damaged) if row is not None else None
            live = {p.key for p in batch.live} if batch is not None else set()
            if any((m.database, m.policy_id) not in live for m in members):
                return False
            # Its life is checked in the same write as the move, as a request's approval is: judging may take
            # a while after the last approval was written.
            moved = conn.execute(change_batches.update().where(
                change_batches.c.id == batch_id, change_batches.c.state == BatchState.PENDING.value,
                change_batches.c.expires_at > now)
                .values(state=BatchState.APPROVED.value, decided_by=decided_by)).rowcount == 1
            if not moved:
                return False
            for position, member in enumerate(members):
                conn.execute(INSERT_REQUEST, columns(member))
                conn.execute(batch_members.insert().values(request_id=member.id, batch_id=batch_id,
                                                           position=position))
                for approver in approvers:
                    conn.execute(approvals.insert().values(request_id=member.id, approver=approver, at=now))
        return True

    def set_member_outcome(self, request_id: str, outcome: OutcomeKind) -> None:
        from bot.adapters.schema import batch_members

        with self.engine.begin() as conn:
            conn.execute(batch_members.update().where(batch_members.c.request_id == request_id)
                         .values(outcome=outcome.value))

    def batch_members(self, batch_id: str) -> list[Member]:
        import sqlalchemy as sa

        from bot.adapters.schema import REQUEST_COLUMNS, batch_members, change_requests

        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*REQUEST_COLUMNS, batch_members.c.outcome)
                                .join(batch_members, batch_members.c.request_id == change_requests.c.id)
                                .where(batch_members.c.batch_id == batch_id)
                                .order_by(batch_members.c.position)).mappings().all()
        outcomes = {row["id"]: row["outcome"] for row in rows}
        return [Member(request, self._outcome(request.id, outcomes[request.id]))
                for request in requests_of(rows, self.damaged)]

    def _outcome(self, request_id: str, value: str | None) -> OutcomeKind | None:
        """How a member's step ended; None (not known here: its request's state says where it stands) for an
        outcome this version does not know, a newer version's during a rolling deploy."""
        try:
            return OutcomeKind(value) if value else None
        except ValueError:
            damaged(self.damaged, "outcome of bulk change member", request_id,
                    f"an outcome ({value!r}) this version does not know", "its request's state is shown instead")
            return None

    def expired_batches(self, before: float) -> list[Batch]:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches

        # A damaged expiry (text, NaN, Infinity, past the longest wait the rules allow) is due too: no comparison
        # with the clock would ever say so, and the bulk change would wait for good.
        due = sa.or_(change_batches.c.expires_at <= before,
                     change_batches.c.expires_at > before + FARTHEST_EXPIRY_SECONDS)
        query, opened = skipping_held(self, sa.select(*BATCH_COLUMNS).where(
            change_batches.c.state == BatchState.PENDING.value, due).order_by(change_batches.c.expires_at).limit(200))
        with opened as conn:
            rows = conn.execute(query).mappings().all()
        for row in rows:
            if not (isinstance(row["expires_at"], int | float) and row["expires_at"] <= before):
                damaged(self.damaged, "expiry of bulk change", row["id"], TIME_DAMAGED)
        return batches_of(rows, self.damaged)

    def open_batches(self, limit: int | None = 200) -> list[Batch]:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches

        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.state == BatchState.PENDING.value)
                                .order_by(change_batches.c.created_at, change_batches.c.id).limit(limit)
                                ).mappings().all()
        return batches_of(rows, self.damaged)

    def batch_judging_turns(self, now: float, limit: int, next_at: float) -> list[Batch]:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS
        from bot.adapters.schema import change_batches as b

        # A damaged turn (text, NaN, Infinity, later than any bulk change waits) is due too: no comparison with
        # the clock would ever make it come, and the bulk change would wait until it expired.
        damaged_turn = b.c.judge_at > now + FARTHEST_EXPIRY_SECONDS
        due = (sa.select(b.c.id).where(b.c.state == BatchState.PENDING.value,
                                       sa.or_(b.c.judge_at <= now, damaged_turn))
               .order_by(b.c.judge_at).limit(limit).with_for_update(skip_locked=True))
        with self.engine.begin() as conn:
            before = set(conn.execute(sa.select(b.c.id).where(b.c.state == BatchState.PENDING.value, damaged_turn))
                         .scalars())
            rows = conn.execute(b.update().where(b.c.id.in_(due)).values(judge_at=next_at)
                                .returning(*BATCH_COLUMNS)).mappings().all()
        for row in rows:
            if row["id"] in before:
                damaged(self.damaged, "turn of bulk change", row["id"], TIME_DAMAGED)
        return sorted(batches_of(rows, self.damaged), key=by_age)

    def judge_batch_later(self, batch_id: str, at: float) -> None:
        from bot.adapters.schema import change_batches as b

        with self.engine.begin() as conn:
            conn.execute(b.update().where(b.c.id == batch_id, b.c.state == BatchState.PENDING.value)
                         .values(judge_at=at))

    def unthreaded_batches(self, limit: int = 50) -> list[Batch]:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches, request_notices

        posted = sa.select(request_notices.c.request_id).where(request_notices.c.request_id == change_batches.c.id,
                                                               request_notices.c.notice == "plan")
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.message_ts.is_not(None),
                                                                ~sa.exists(posted))
                                .order_by(change_batches.c.created_at.desc()).limit(limit)).mappings().all()
        return batches_of(rows, self.damaged)

    def unposted_batches(self, claimed_before: float, limit: int = 50) -> list[Batch]:
        """Bulk changes with no message whose post's answer was lost (`posting` claimed before `claimed_before`)
        and whose post is not settled (`posted`), the oldest first: Slack may never have made it."""
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches, request_notices

        def noted(notice: str, *more: Any) -> Any:
            return sa.exists(sa.select(request_notices.c.request_id).where(
                request_notices.c.request_id == change_batches.c.id, request_notices.c.notice == notice, *more))

        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*BATCH_COLUMNS).where(
                change_batches.c.message_ts.is_(None), noted("posting", request_notices.c.at < claimed_before),
                ~noted("posted")).order_by(change_batches.c.created_at).limit(limit)).mappings().all()
        return batches_of(rows, self.damaged)

    def unshown_batches(self, limit: int = 50) -> list[Batch]:
        """Bulk changes whose message Slack would not update and no click replaced (`unshown` claimed): the
        sweep shows them again, the oldest first."""
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, change_batches, request_notices

        owed = sa.exists(sa.select(request_notices.c.request_id).where(
            request_notices.c.request_id == change_batches.c.id, request_notices.c.notice == UNSHOWN))
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*BATCH_COLUMNS).where(change_batches.c.message_ts.is_not(None), owed)
                                .order_by(change_batches.c.created_at).limit(limit)).mappings().all()
        return batches_of(rows, self.damaged)

    def unfinished_batches(self, limit: int = 50) -> list[Batch]:
        import sqlalchemy as sa

        from bot.adapters.schema import BATCH_COLUMNS, batch_members, change_batches, change_requests, request_notices

        told = sa.select(request_notices.c.request_id).where(request_notices.c.request_id == change_batches.c.id,
                                                             request_notices.c.notice == "outcomes")
        # The requester's direct message and the audit channel's entry, refused once by Slack, are posted again
        # as the thread's outcomes are.
        def told_by(notice: str) -> Any:
            return sa.exists(sa.select(request_notices.c.request_id).where(
                request_notices.c.request_id == change_batches.c.id, request_notices.c.notice == notice))
        still_open = (sa.select(batch_members.c.request_id)
                      .join(change_requests, change_requests.c.id == batch_members.c.request_id)
                      .where(batch_members.c.batch_id == change_batches.c.id,
                             change_requests.c.state.in_([s.value for s in OPEN_STATES])))
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*BATCH_COLUMNS).where(
                change_batches.c.state == BatchState.APPROVED.value,
                # One with no message known has no thread to tell in: its DM and audit entry are still owed.
                ~((change_batches.c.message_ts.is_(None) | sa.exists(told))
                  & told_by(f"dm:{BatchState.APPROVED.value}") & told_by("audit")),
                ~sa.exists(still_open))
                .order_by(change_batches.c.created_at.desc()).limit(limit)).mappings().all()
        return batches_of(rows, self.damaged)

    def batch_of_request(self, request_id: str) -> str | None:
        import sqlalchemy as sa

        from bot.adapters.schema import batch_members

        with self.reader.connect() as conn:
            found = conn.scalar(sa.select(batch_members.c.batch_id).where(batch_members.c.request_id == request_id))
        return str(found) if found else None

    def set_batch_message(self, batch_id: str, channel: str, ts: str) -> None:
        from bot.adapters.schema import change_batches

        with self.engine.begin() as conn:
            conn.execute(change_batches.update().where(change_batches.c.id == batch_id)
                         .values(message_channel=channel, message_ts=ts))
            done_with(conn)  # the bulk change is shown: the work that asked it is done

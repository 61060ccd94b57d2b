"""Bulk changes in the database, on SQLite and PostgreSQL: a batch read back as it was stored, decided once
however many callers race, its members stored with its approvals."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.adapters.store import Store
from bot.domain.batches import Batch, BatchState, Planned, Skipped, SkipReason, approval_records, member_id
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.outcomes import OutcomeKind

# A policy as PlanetScale lists it: a plan's `before` that no policy matches is read as damaged.
BEFORE = {"id": "bp1", "display_name": "Daily", "name": "Daily", "target": "production", "retention_value": 2,
          "retention_unit": "day", "frequency_value": 1, "frequency_unit": "day", "schedule_time": "00:00",
          "schedule_day": None, "schedule_week": None, "created_at": "2026-01-01T00:00:00.000Z",
          "updated_at": "2026-01-01T00:00:00.000Z", "last_ran_at": None, "next_run_at": None, "required": False}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url)
    opened.migrate()
    yield opened
    opened.close()


def batch() -> Batch:
    return Batch(organization="acme\x00", requester="U1", channel="C1", selection="acme/* *",
                 changes={"retention_value": 14}, approvals_needed=1, expires_at=2e9, approvals_from={"@leads": 1},
                 planned=[Planned("db-1", "bp1", "Daily “quoted”", BEFORE, 1, {"@leads": 1}, ["production backups"])],
                 skipped=[Skipped("db-2", None, None, SkipReason.UNREADABLE, "403")], approvers=["S1"])


def member(stored: Batch) -> ChangeRequest:
    return ChangeRequest(organization=stored.organization, database="db-1", policy_id="bp1", policy_name="Daily",
                         requester="U1", channel="C1", before=BEFORE, changes={"retention_value": 14},
                         approvals_needed=1, approvers=[], expires_at=2e9, state=RequestState.APPROVED)


def test_a_batch_reads_back_as_it_was_stored(store: Store) -> None:
    stored = batch()
    store.add_batch(stored)
    assert store.get_batch(stored.id) == stored


def test_two_racing_approvals_store_the_members_once(store: Store) -> None:
    stored = batch()
    store.add_batch(stored)
    assert store.add_batch_approval(stored.id, "U2") == ["U2"]
    assert store.add_batch_approval(stored.id, "U2") is None
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def approve() -> None:
        barrier.wait()
        results.append(store.approve_batch(stored.id, "U2", [member(stored)], ["U2"]))

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    [one] = store.batch_members(stored.id)
    assert one.request.state is RequestState.APPROVED and one.outcome is None
    assert store.approvers_of(one.request.id) == ["U2"]
    assert store.batch_of_request(one.request.id) == stored.id
    store.set_member_outcome(one.request.id, OutcomeKind.CONFLICT)
    assert store.batch_members(stored.id)[0].outcome is OutcomeKind.CONFLICT
    assert store.close_batch(stored.id, BatchState.REJECTED, "U3") is None


def test_only_pending_batches_past_their_time_are_due(store: Store) -> None:
    due, later = batch(), batch()
    due.expires_at, later.expires_at = 100.0, 300.0
    store.add_batch(due)
    store.add_batch(later)
    assert [b.id for b in store.expired_batches(200.0)] == [due.id]
    closed = store.close_batch(due.id, BatchState.EXPIRED, None)
    assert closed is not None and closed.state is BatchState.EXPIRED
    assert store.expired_batches(200.0) == []


def test_an_approvals_records_are_written_with_it_and_only_with_it(store: Store) -> None:
    """The trail's `approved` entries of a click are stored in the write that stores the approval: none for a
    second click by the same approver, none once the batch is closed."""
    stored = batch()
    store.add_batch(stored)
    assert store.add_batch_approval(stored.id, "U2", approval_records(stored, "U2", [("db-1", "bp1")])) == ["U2"]
    assert store.add_batch_approval(stored.id, "U2", approval_records(stored, "U2", [("db-1", "bp1")])) is None
    assert store.close_batch(stored.id, BatchState.CANCELLED, "U1") is not None
    assert store.add_batch_approval(stored.id, "U3", approval_records(stored, "U3", [("db-1", "bp1")])) == []
    approved = [(e.actor, e.database, e.request_id) for e in store.all_events() if e.action == "approved"]
    assert approved == [("U2", "db-1", member_id(stored.id, ("db-1", "bp1")))], approved

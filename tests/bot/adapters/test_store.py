"""The store's leases on their own, on SQLite and PostgreSQL: what keeps two changes to one policy apart."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from bot.adapters import migrations
from bot.adapters.store import Store
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState

APPROVED = [RequestState.APPROVED]


@pytest.fixture
def clocked(store_url: str) -> Iterator[tuple[Store, list[float]]]:
    now = [1000.0]
    store = Store(store_url, clock=lambda: now[0])
    store.migrate()
    yield store, now
    store.close()


def approved(store: Store, policy_id: str = "bp01") -> ChangeRequest:
    request = store.add_request(ChangeRequest(
        organization="acme", database="app-db", policy_id=policy_id, policy_name="P", requester="U0ALICE001",
        channel="C0DBAOPS01", before={"target": "production"}, changes={"retention_value": 5}, approvals_needed=0,
        approvers=[], expires_at=10_000))
    moved = store.transition(request.id, [RequestState.PENDING], RequestState.APPROVED)
    assert moved is not None
    return moved


def test_one_claim_per_policy_until_it_is_released(clocked: tuple[Store, list[float]]) -> None:
    store, _ = clocked
    first, second, elsewhere = approved(store), approved(store), approved(store, "bp02")
    claim = store.claim_for_applying(first, APPROVED, 60)
    assert claim is not None and claim.request.state is RequestState.APPLYING
    assert store.claim_for_applying(second, APPROVED, 60) is None
    assert store.get_request(second.id).state is RequestState.APPROVED  # type: ignore[union-attr]
    assert store.claim_for_applying(elsewhere, APPROVED, 60) is not None  # another policy: its own lease
    store.release(claim)
    # Released but still applying (its PATCH's outcome unknown): the policy stays with it until it is settled.
    assert store.claim_for_applying(second, APPROVED, 60) is None
    settling = store.claim_for_applying(first, [RequestState.APPLYING], 60)
    assert settling is not None
    assert store.transition(first.id, [RequestState.APPLYING], RequestState.APPLIED, release=settling) is not None
    assert store.claim_for_applying(second, APPROVED, 60) is not None


def test_a_worker_that_lost_its_lease_moves_nothing(clocked: tuple[Store, list[float]]) -> None:
    store, now = clocked
    request = approved(store)
    slow = store.claim_for_applying(request, APPROVED, 60)
    assert slow is not None
    now[0] += 61
    sweep = store.claim_for_applying(request, [RequestState.APPLYING], 60)
    assert sweep is not None
    assert store.transition(request.id, [RequestState.APPLYING], RequestState.FAILED, release=slow) is None
    assert store.get_request(request.id).state is RequestState.APPLYING  # type: ignore[union-attr]
    assert store.transition(request.id, [RequestState.APPLYING], RequestState.APPLIED, release=sweep) is not None


def test_a_request_is_claimed_once(clocked: tuple[Store, list[float]]) -> None:
    store, _ = clocked
    request = approved(store)
    claim = store.claim_for_applying(request, APPROVED, 60)
    assert claim is not None
    store.release(claim)
    assert store.claim_for_applying(request, APPROVED, 60) is None  # it is applying now, not approved


def test_an_expired_lease_is_taken_over_and_the_worker_that_lost_it_cannot_renew(
    clocked: tuple[Store, list[float]]
) -> None:
    store, now = clocked
    request = approved(store)
    slow = store.claim_for_applying(request, APPROVED, 60)
    assert slow is not None
    now[0] += 30
    assert store.claim_for_applying(request, [RequestState.APPLYING], 60) is None  # still held
    now[0] += 31
    sweep = store.claim_for_applying(request, [RequestState.APPLYING], 60)
    assert sweep is not None and sweep.token != slow.token
    assert store.renew(slow, 60) is False  # the slow worker must not send
    assert store.renew(sweep, 60) is True
    store.release(slow)  # releasing a lost lease leaves the new holder's alone
    assert store.claim_for_applying(approved(store), APPROVED, 60) is None


def test_every_claim_moves_the_databases_generation_on(clocked: tuple[Store, list[float]]) -> None:
    store, _ = clocked
    assert store.database_generation("acme", "app-db") == 0
    claim = store.claim_for_applying(approved(store), APPROVED, 60)
    assert claim is not None and store.database_generation("acme", "app-db") == 1
    store.release(claim)
    assert store.database_generation("acme", "app-db") == 1  # a release is not a change
    assert store.claim_for_applying(approved(store, "bp02"), APPROVED, 60) is not None
    assert store.database_generation("acme", "app-db") == 2
    assert store.database_generation("acme", "app") == 0  # a prefix of the name is another database


def test_the_last_step_records_moves_and_gives_the_lease_back_in_one_transaction(
    clocked: tuple[Store, list[float]]
) -> None:
    store, _ = clocked
    claim = store.claim_for_applying(approved(store), APPROVED, 60)
    assert claim is not None and claim.generation == 1 and claim.until == 1060.0
    event = AuditEvent(action="applied", actor="U0ALICE001", organization="acme", database="app-db",
                       request_id=claim.request.id)
    done = store.transition(claim.request.id, [RequestState.APPLYING], RequestState.APPLIED, record=event,
                            release=claim, lease_until=0)
    assert done is not None and done.state is RequestState.APPLIED
    assert [e.action for e in store.events_of_request(claim.request.id)] == ["applied"]
    assert claim.released and store.claim_for_applying(approved(store), APPROVED, 60) is not None  # lease free


def test_a_renewal_records_only_when_the_lease_is_still_held(clocked: tuple[Store, list[float]]) -> None:
    store, now = clocked
    request = approved(store)
    slow = store.claim_for_applying(request, APPROVED, 60)
    assert slow is not None
    now[0] += 61
    assert store.claim_for_applying(request, [RequestState.APPLYING], 60) is not None  # taken over
    sending = AuditEvent(action="sending", actor="U0ALICE001", organization="acme", database="app-db",
                         request_id=request.id)
    assert store.renew(slow, 60, record=sending) is False
    assert store.events_of_request(request.id) == []


def test_approvers_of_many_requests_in_one_query(clocked: tuple[Store, list[float]]) -> None:
    store, now = clocked
    first, second, none = (revert_asked(store, RequestState.PENDING, 0, revert_of=f"r-{n}") for n in range(3))
    for request, approver in ((first, "U0CAROL001"), (second, "U0BOB00001"), (first, "U0DAVE0001")):
        now[0] += 1
        store.add_approval(request.id, approver)
    assert store.approvers_by_request([first.id, second.id, none.id]) == {
        first.id: ["U0CAROL001", "U0DAVE0001"], second.id: ["U0BOB00001"], none.id: []}
    assert store.approvers_by_request([]) == {}


def test_sqlalchemy_loads_when_the_database_is_first_used_not_when_the_app_is_imported() -> None:
    # A fifth of serve's start: out of the way of the first acks, which never use the database.
    probe = ("import sys\n"
             "import bot.runtime.app, bot.runtime.cli, bot.runtime.server, bot.adapters.store as store\n"
             "assert 'sqlalchemy' not in sys.modules, 'imported with the app'\n"
             "s = store.Store('sqlite://')\n"
             "assert 'sqlalchemy' not in sys.modules, 'imported by Store()'\n"
             "print(s.migrate())\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(migrations.head())


def test_a_store_not_ready_holds_every_use_until_its_schema_is_checked(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    store.ready.clear()
    read: list[ChangeRequest | None] = []
    reader = threading.Thread(target=lambda: read.append(store.get_request("nothing")))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive() and read == []
    store.ready.set()
    reader.join(60)  # a bound for a loaded machine, not a timing
    assert read == [None]
    store.close()


def test_two_requests_left_applying_by_an_older_version_both_settle(clocked: tuple[Store, list[float]]) -> None:
    store, now = clocked
    first, second = approved(store), approved(store)
    for request in (first, second):  # as an older version could leave them: both applying, leases run out
        assert store.transition(request.id, APPROVED, RequestState.APPLYING) is not None
    now[0] += 1000
    settling = store.claim_for_applying(first, [RequestState.APPLYING], 60)
    assert settling is not None
    store.release(settling)
    assert store.claim_for_applying(second, [RequestState.APPLYING], 60) is not None
    assert store.claim_for_applying(approved(store), APPROVED, 60) is None  # new work waits for them


def test_a_database_made_with_short_name_columns_takes_any_name_once_migrated(postgres_url: str) -> None:
    """Before migration 8 the names PlanetScale returns went into VARCHAR(255) columns on PostgreSQL."""
    from bot.adapters.schema import OUTSIDE_TEXT_COLUMNS

    store = Store(postgres_url)
    store.migrate()
    with store.engine.begin() as conn:
        for table, columns in OUTSIDE_TEXT_COLUMNS.items():
            for column in columns:
                conn.exec_driver_sql(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR(64)')
        migrations.stamp(conn, 7)
    store.migrate()
    name = "N" * 300 + "\x00"
    store.record(AuditEvent(action="created_outside", actor="outside-the-bot", organization="acme",
                            database="app-db", policy_id="p" * 200, policy_name=name))
    [event] = list(store.all_events())
    assert event.policy_name == name and event.policy_id == "p" * 200
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT policy_name FROM audit_events").scalar()
    assert "\x00" not in str(stored)
    store.close()


def test_a_watch_notice_claim_ends_and_its_holder_may_take_it_again(clocked: tuple[Store, list[float]]) -> None:
    from bot.domain.watch_state import Notice, NoticeKind

    store, now = clocked
    with store.engine.begin() as conn:  # a database migrated before notices were claimed for a while
        for column in ("claimed_by", "claimed_until"):
            conn.exec_driver_sql(f"ALTER TABLE watch_notices DROP COLUMN {column}")
        migrations.stamp(conn, 8)
    store.migrate()
    notice = Notice(kind=NoticeKind.DRIFT, organization="acme", database="app-db", policy_id="bp01",
                    policy_name="P", detail="changed", id="n1", created_at=now[0])
    with store.engine.begin() as conn:
        store._add_notice(conn, notice)
    assert store.claim_watch_notice("n1", "A", 300)
    assert not store.claim_watch_notice("n1", "B", 300)
    assert store.claim_watch_notice("n1", "A", 300)  # A's unclaim failed: its next pass takes it again
    now[0] += 301
    assert store.claim_watch_notice("n1", "B", 300)  # A stopped: its claim ended
    store.watch_notice_posted("n1")
    assert store.unposted_notices() == []
    assert not store.claim_watch_notice("n1", "B", 300)


def revert_asked(store: Store, state: RequestState, created_at: float, revert_of: str = "r-1") -> ChangeRequest:
    request = ChangeRequest(
        organization="acme", database="app-db", policy_id="bp01", policy_name="P", requester="U0ALICE001",
        channel="C0DBAOPS01", before={"target": "production"}, changes={"retention_value": 5}, approvals_needed=1,
        approvers=[], expires_at=10_000, revert_of=revert_of, state=state, created_at=created_at)
    return store.add_request(request)


def test_a_second_open_revert_of_a_change_is_not_stored_and_the_first_is_answered(
    clocked: tuple[Store, list[float]]
) -> None:
    store, _ = clocked
    first = revert_asked(store, RequestState.PENDING, 1)
    assert store.add_request(ChangeRequest(
        organization="acme", database="app-db", policy_id="bp01", policy_name="P", requester="U0BOB00001",
        channel="C0DBAOPS01", before={}, changes={"retention_value": 5}, approvals_needed=1, approvers=[],
        expires_at=10_000, revert_of="r-1")).id == first.id
    assert [r.id for r in store.requests(list(RequestState))] == [first.id]
    store.transition(first.id, [RequestState.PENDING], RequestState.CANCELLED)
    assert revert_asked(store, RequestState.PENDING, 2).id != first.id  # a closed revert is asked again


def test_open_reverts_of_one_change_stored_before_migration_10_keep_one(clocked: tuple[Store, list[float]]) -> None:
    """Two instances could each ask a revert of the same change: the migration keeps the applying one (else the
    oldest) and cancels the others, on the record."""
    store, _ = clocked
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ux_open_revert")
        migrations.stamp(conn, 9)
    older = revert_asked(store, RequestState.PENDING, 1)
    applying = revert_asked(store, RequestState.APPLYING, 2)
    newer = revert_asked(store, RequestState.APPROVED, 3)
    assert len({older.id, applying.id, newer.id}) == 3
    store.migrate()
    states = {r.id: r.state for r in store.requests(list(RequestState))}
    assert states == {older.id: RequestState.CANCELLED, applying.id: RequestState.APPLYING,
                      newer.id: RequestState.CANCELLED}
    assert {e.request_id for e in store.all_events() if e.action == "cancelled"} == {older.id, newer.id}


def test_a_claim_on_a_policy_whose_key_is_kept_shortened_still_moves_its_request(
        clocked: tuple[Store, list[float]]) -> None:
    """A policy key past 300 characters is stored as its hash: the lease check before a move out of applying
    looks it up the same way, or the request could never leave applying."""
    store, _ = clocked
    request = approved(store, "bp" + "x" * 400)
    claim = store.claim_for_applying(request, APPROVED, 60)
    assert claim is not None
    assert store.transition(request.id, [RequestState.APPLYING], RequestState.APPLIED, release=claim) is not None


def test_an_approval_of_a_request_no_longer_pending_is_not_recorded(clocked: tuple[Store, list[float]]) -> None:
    store, _ = clocked
    request = revert_asked(store, RequestState.PENDING, 0)
    assert store.transition(request.id, [RequestState.PENDING], RequestState.CANCELLED) is not None
    event = AuditEvent(action="approved", actor="U0CAROL001", organization="acme", database="app-db",
                       request_id=request.id)
    assert store.add_approval(request.id, "U0CAROL001", record=event) == []
    assert store.approvers_of(request.id) == [] and store.events_of_request(request.id) == []


def test_the_facts_completed_beside_a_send_are_written_with_its_last_move(
        clocked: tuple[Store, list[float]]) -> None:
    """An update applied at once is stored before the estimate's basis is read (beside its PATCH): the move that
    ends the send writes the completed facts, in the same conditional write."""
    store, _ = clocked
    request = approved(store)
    claim = store.claim_for_applying(request, APPROVED, 60)
    assert claim is not None and claim.request.facts is None
    facts = {"policies": [["bp01", "P", "production"]], "before": {"size": 2_000, "cost": 0.5}, "after": None}
    moved = store.transition(request.id, [RequestState.APPLYING], RequestState.APPLIED, release=claim, facts=facts)
    assert moved is not None and moved.facts == facts
    assert store.get_request(request.id).facts == facts  # type: ignore[union-attr]

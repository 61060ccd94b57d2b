"""Every query the store makes on the trail, the requests and the approvals goes down an index that fits it, on a
PostgreSQL holding enough of them that its planner would rather read a whole table than a wrong index: each
statement the store sends while it does its work is explained (run, then rolled back) and none may read a big
table whole or throw away most of what it read."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent
from bot.domain.batches import Batch, Planned
from bot.domain.change_requests import CLOSED_STATES, ChangeRequest, RequestState

BIG_TABLES = {"audit_events", "change_requests", "approvals", "change_batches"}
ENTRIES, REQUESTS, PENDING, DATABASES = 60_000, 6_000, 600, 200
NOW = 1_000_000_000.0
# An index that fits a query reads about what it returns, however long the table; a scan that filters out more
# than this read rows the query did not want (a thousand rows is a millisecond).
MOST_THROWN_AWAY = 1000


@pytest.fixture
def seeded(postgres_url: str) -> Iterator[Store]:
    store = Store(postgres_url, clock=lambda: NOW)
    store.migrate()
    before = json.dumps({"target": "production", "name": "P", "retention_value": 2, "retention_unit": "day"})
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_events (at, action, actor, organization, database, policy_id, policy_name, "
            "request_id, before, after, channel) SELECT to_char(timestamp '2026-01-01' + g * interval '5 minutes', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), (ARRAY['requested','approved','applied','sending','refused',"
            "'dry_run','read_refused','failed'])[1 + g %% 8], 'U' || (g %% 50), 'acme', 'db-' || (g %% %(dbs)s), "
            "'bp' || (g %% 900), 'Policy ' || (g %% 900), md5('r' || (g %% %(requests)s))::uuid::text, "
            "%(before)s::json, %(before)s::json, 'C0DBAOPS01' FROM generate_series(1, %(entries)s) g",
            {"dbs": DATABASES, "requests": REQUESTS, "entries": ENTRIES, "before": before})
        conn.exec_driver_sql(
            "INSERT INTO change_requests (id, state, organization, database, policy_id, policy_name, requester, "
            "channel, before, changes, approvals_needed, approvers, risks, created_at, expires_at, updated_at, "
            "lease_until, reason_by_person, revert_of, target, told, judge_at) SELECT md5('r' || g)::uuid::text, "
            "CASE WHEN g <= %(pending)s THEN 'pending' ELSE 'applied' END, 'acme', 'db-' || (g %% %(dbs)s), "
            "'bp' || (g %% 900), 'Policy ' || (g %% 900), 'U' || (g %% 50), 'C0DBAOPS01', %(before)s::json, "
            "'{}'::json, 1, '[]'::json, '[]'::json, %(now)s - 100000 + g, %(now)s + 3600 + g, "
            "%(now)s - 100000 + g, 0, true, "
            "CASE WHEN g %% 10 = 0 THEN md5('r' || (g + 1))::uuid::text END, 'production', g > %(pending)s, "
            "CASE WHEN g <= %(pending)s AND g %% 3 = 0 THEN %(now)s - 100000 + g END "  # a third due to be judged
            "FROM generate_series(1, %(requests)s) g",
            {"pending": PENDING, "dbs": DATABASES, "before": before, "now": NOW, "requests": REQUESTS})
        conn.exec_driver_sql("INSERT INTO approvals (request_id, approver, at) SELECT id, 'U' || ascii(id), "
                             "created_at FROM change_requests")
    store.add_batch(a_batch())
    with store.engine.begin() as conn:  # as many bulk changes as requests, as many pending, a third of them due
        conn.exec_driver_sql(
            "INSERT INTO change_batches (id, state, organization, requester, channel, plan, created_at, expires_at, "
            "judge_at) SELECT md5('b' || g)::uuid::text, CASE WHEN g <= %(pending)s THEN 'pending' ELSE 'applied' "
            "END, organization, requester, channel, plan, %(now)s - 100000 + g, %(now)s + 3600 + g, "
            "CASE WHEN g <= %(pending)s AND g %% 3 = 0 THEN %(now)s - 100000 + g END "
            "FROM generate_series(1, %(requests)s) g, (SELECT * FROM change_batches LIMIT 1) one",
            {"pending": PENDING, "now": NOW, "requests": REQUESTS})
        conn.exec_driver_sql("ANALYZE")
    yield store
    store.close()


def request(policy_id: str = "bp-new", revert_of: str | None = None) -> ChangeRequest:
    return ChangeRequest(organization="acme", database="db-7", policy_id=policy_id, policy_name="New",
                         requester="U7", channel="C0DBAOPS01", before={"target": "production"},
                         changes={"retention_value": 5}, approvals_needed=1, approvers=[], expires_at=NOW + 3600,
                         revert_of=revert_of, created_at=NOW, updated_at=NOW)


def a_batch() -> Batch:
    return Batch(organization="acme", requester="U7", channel="C0DBAOPS01", selection="acme/* *",
                 changes={"retention_value": 5}, approvals_needed=1, expires_at=NOW + 3600, created_at=NOW,
                 planned=[Planned("db-7", "bp7", "Policy 7", {"target": "production"}, 1, {}, [])], skipped=[])


def event(action: str = "requested", request_id: str | None = None) -> AuditEvent:
    return AuditEvent(action=action, actor="U7", organization="acme", database="db-7", policy_id="bp7",
                      request_id=request_id)


def the_store_at_work(store: Store) -> list[tuple[str, Callable[[], Any]]]:
    """Everything the store does with the big tables, as the doors, the sweep, the watch and the CLI call it."""
    asked = store.add_request(request(), event())
    revert = store.add_request(request("bp-r", revert_of="r-of"))
    return [
        ("add_request (a second open revert)", lambda: store.add_request(request("bp-r", revert_of="r-of"))),
        ("get_request", lambda: store.get_request(asked.id)),
        ("approvers_of", lambda: store.approvers_of(asked.id)),
        ("approvers_by_request", lambda: store.approvers_by_request([asked.id, revert.id])),
        ("add_approval", lambda: store.add_approval(asked.id, "U9", event("approved", asked.id))),
        ("judging_turns", lambda: store.judging_turns(NOW, 20, NOW + 600)),
        ("judge_later", lambda: store.judge_later(asked.id, NOW)),
        ("batch_judging_turns", lambda: store.batch_judging_turns(NOW, 20, NOW + 600)),
        ("judge_batch_later", lambda: store.judge_batch_later(md5_uuid("b3"), NOW)),
        ("unposted_batches", lambda: store.unposted_batches(NOW)),
        ("set_message", lambda: store.set_message(asked.id, "C1", "1.2")),
        ("adopt_message", lambda: store.adopt_message(revert.id, "C1", "1.3")),
        ("requests (open)", lambda: store.requests()),
        ("requests (expired)", lambda: store.requests([RequestState.PENDING], expired_before=NOW)),
        ("requests (approved, stale)", lambda: store.requests([RequestState.APPROVED], updated_before=NOW)),
        ("requests (applying, lease over)", lambda: store.requests([RequestState.APPLYING], lease_before=NOW)),
        ("requests (closed, not yet told)", lambda: store.requests(list(CLOSED_STATES), told=False)),
        ("requests (closed, not yet told, by chance)", lambda: store.requests(list(CLOSED_STATES), told=False,
                                                                              shuffled=True)),
        ("mark_told", lambda: store.mark_told(asked.id, ["closed"])),
        ("open_count", store.open_count),
        ("own_pending", lambda: store.own_pending("U7", NOW)),
        ("pending_waiting", lambda: store.pending_waiting("U7", NOW)),
        ("pending_page (own)", lambda: store.pending_page("U7", NOW, None, 10)),
        ("pending_page (to approve, shown)", lambda: store.pending_page("U8", NOW, [asked.id], 10)),
        ("reminders_due", lambda: store.reminders_due([("remind:50%", 0.5, 0.0), ("remind:1h", 1.0, 3600.0)],
                                                      NOW)),
        ("policy_requests", lambda: store.policy_requests("acme", "db-7", "bp7", [RequestState.APPLYING])),
        ("policy_requests (applied since)", lambda: store.policy_requests(
            "acme", "db-7", "bp7", [RequestState.APPLIED], updated_since=NOW - 600)),
        ("claim_for_applying", lambda: claim_and_release(store, asked)),
        ("transition", lambda: store.transition(asked.id, [RequestState.APPLYING], RequestState.FAILED,
                                                record=event("failed", asked.id))),
        ("latest (a database)", lambda: store.latest("acme", "db-7", [], 40)),
        ("latest (a policy by ID and name)", lambda: store.latest("acme", "db-7", ["bp7", "Policy 7"], 40)),
        ("latest (a policy with no entries)", lambda: store.latest("acme", "db-7", ["bp-none"], 40)),
        ("latest_of", lambda: store.latest_of(["applied"], 30)),
        ("events_of_request", lambda: store.events_of_request(asked.id)),
        ("events (all, a batch)", lambda: next(store.events(batch=100))),
        ("events (a database)", lambda: next(store.events(organization="acme", database="db-7", batch=100))),
        ("events (an actor)", lambda: next(store.events(actor="U7", batch=100))),
        ("events (since)", lambda: next(store.events(since="2026-06-01T00:00:00Z", batch=100))),
        ("prune_events", lambda: store.prune_events("2026-01-02T00:00:00Z")),
    ]


def md5_uuid(text: str) -> str:
    digest = hashlib.md5(text.encode()).hexdigest()
    return str(uuid.UUID(digest))


def claim_and_release(store: Store, asked: ChangeRequest) -> None:
    store.transition(asked.id, [RequestState.PENDING], RequestState.APPROVED)
    claim = store.claim_for_applying(asked, [RequestState.APPROVED], 60)
    assert claim is not None
    assert store.renew(claim, 60)
    store.release(claim)


def captured(store: Store, work: Callable[[], Any]) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        work()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    return statements


def misfits(plan: dict[str, Any]) -> list[str]:
    """Nodes that read a big table whole, or threw most of what they read away."""
    found = []
    relation = plan.get("Relation Name")
    if relation in BIG_TABLES:
        if plan["Node Type"] == "Seq Scan":
            found.append(f"reads all of {relation}")
        thrown = plan.get("Rows Removed by Filter", 0) + plan.get("Rows Removed by Index Recheck", 0)
        if thrown > MOST_THROWN_AWAY:
            found.append(f"{plan['Node Type']} on {relation} threw away {thrown} rows")
    for child in plan.get("Plans", []):
        found += misfits(child)
    return found


def test_every_query_on_the_trail_and_the_requests_uses_an_index_that_fits_it(seeded: Store) -> None:
    problems = []
    for name, work in the_store_at_work(seeded):
        statements = captured(seeded, work)
        assert statements, f"{name} sent no query"
        for statement, parameters in statements:
            with seeded.engine.connect() as conn, conn.begin() as transaction:
                [[plan]] = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}",
                                                parameters).one()
                transaction.rollback()
            for problem in misfits(plan["Plan"]):
                problems.append(f"{name}: {problem}\n    {' '.join(statement.split())[:300]}")
    assert not problems, "\n".join(problems)

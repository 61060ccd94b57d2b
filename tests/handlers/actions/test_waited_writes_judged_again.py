"""A write that waited (a 429, the shared budget, its facts read after) is judged again before it leaves, through
Bolt's pipeline and the emulators."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, RULES, approvals_bot, direct_messages, second_instance, swept_later
from conftest import Bot
from waits import Waits, sleeps

from bot.adapters import shared_budget
from bot.adapters.shared_budget import SharedRateLimiter
from bot.adapters.store.connection import database_url
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot", "second_instance", "sleeps"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval
DBA_OPS = "C0DBAOPS01"
# The development rule tightened: a change there now needs one approval from @dba-leads.
TIGHTENED = RULES.format(approvals=1).replace(
    'targets = ["development"]\neditors = ["@dba-team"]\napprovers = ["@dba-leads"]\n',
    'targets = ["development"]\neditors = ["@dba-team"]\napprovers = ["@dba-leads"]\napprovals = 1\n')


def test_a_no_approval_change_judged_again_to_need_an_approval_is_put_to_approvers(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """Held: alice's retention=9d on a development policy in #db-ops needs no approval; its PATCH is answered 429
    and, during the wait, the rules are tightened (one approval from @dba-leads). Judged again, it is posted in
    the channel with its Approve button, alice is told so, and nothing is sent."""
    assert TIGHTENED.count("approvals = 1") == 2
    sleeps.during = lambda: approvals_bot.use_rules(TIGHTENED)
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE, channel=DBA_OPS)
    assert sleeps == [3.0] and len(planetscale.calls("PATCH")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.PENDING and request.message_ts is not None
    assert "needs 1 approval" in reply.all_text(), reply.all_text()


def hold_the_budget(store_url: str, limiter: SharedRateLimiter, meanwhile: Callable[[], None]) -> threading.Thread:
    """Another holder of the shared budget (an instance on PostgreSQL, a serve worker on SQLite's budget file)
    keeps its row locked; `meanwhile` runs while it does, and the lock is let go after it."""
    limiter.acquire()  # the budget's row exists
    if limiter.path is None:
        engine = sa.create_engine(database_url(store_url))
        conn = engine.connect()
        conn.begin()
        conn.execute(sa.text("SELECT tat FROM planetscale_budget WHERE name = :n FOR UPDATE"), {"n": limiter.name})

        def waiting() -> bool:
            with engine.connect() as look:
                return bool(look.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%planetscale_budget%' AND pid <> pg_backend_pid()")).scalar())

        def release() -> None:
            conn.commit()
            conn.close()
            engine.dispose()
    else:
        raw = sqlite3.connect(limiter.path, isolation_level=None, check_same_thread=False)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE planetscale_budget SET tat = tat WHERE name = ?", (limiter.name,))
        # The reservation waits in SQLite's busy handler, not seen from here: its start is. The second is held from
        # then, as a loaded machine may start it late.
        reserving, reserve = threading.Event(), limiter.acquire

        def acquire() -> float:
            reserving.set()
            return reserve()

        limiter.acquire = acquire  # type: ignore[method-assign]

        def waiting() -> bool:
            return reserving.is_set()

        def release() -> None:
            raw.execute("COMMIT")
            raw.close()

    def run() -> None:
        try:
            deadline = time.monotonic() + 60
            while not waiting() and time.monotonic() < deadline:
                time.sleep(0.05)
            meanwhile()
            time.sleep(1.0)  # held a second: far past a reservation's statement
        finally:
            release()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_patch_held_up_by_the_shared_budget_is_not_sent_onto_a_policy_moved_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState, planetscale_client: Any, store_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's no-approval retention=9d on a development policy is judged under its lease; as its PATCH takes
    its turn in the budget the instances share, another holder keeps the budget's row locked (PostgreSQL: an
    instance's transaction; SQLite: a serve worker's write to the budget file), and meanwhile the policy is moved
    to production. The PATCH waited (before the fix the fence was told only of the budget's planned sleep, and it
    left on the judgement made before the wait): judged again on a fresh read, it is refused and nothing is sent.
    On PostgreSQL a reservation waits for the row a moment only (`ROW_WAIT_MS`); here seconds, as a slow database
    would hold it up."""
    monkeypatch.setattr(shared_budget, "ROW_WAIT_MS", 10_000)
    store = approvals_bot.deps.store
    real = store.renew
    threads: list[threading.Thread] = []

    def renew(claim: Any, lease_seconds: float, record: Any = None) -> Any:
        if record is not None and record.action == "sending":
            limiter = SharedRateLimiter(store, planetscale_client.token_id, 600, 60.0)
            planetscale_client.limiter = limiter
            threads.append(hold_the_budget(store_url, limiter, lambda: planetscale.dashboard_change(
                "acme", "app-db", DEV, target="production")))
        return real(claim, lease_seconds, record=record)

    monkeypatch.setattr(store, "renew", renew)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    for thread in threads:
        thread.join(30)
    policy = planetscale.policy("acme", "app-db", DEV)
    assert threads and policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()


def test_a_write_whose_fresh_read_is_refused_goes_back_and_its_requester_hears_the_outcome(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """alice's no-approval retention=9d in #db-ops: its PATCH is answered 429, and the read made again after the
    wait is answered 429 each time it is tried. Nothing is sent; the sweep applies it later, and alice hears it."""

    def refuse_reads() -> None:
        sleeps.during = None
        planetscale.add_fault(Fault(status=429, method="GET", times=4))

    sleeps.during = refuse_reads
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE, channel=DBA_OPS)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPROVED and len(planetscale.calls("PATCH")) == 1
    assert "nothing was sent" in reply.all_text() and "tries again shortly" in reply.all_text(), reply.all_text()
    swept_later(approvals_bot, 120)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED and len(planetscale.calls("PATCH")) == 2
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    assert any("was applied" in m for m in direct_messages(approvals_bot, ALICE))


BOUNDED = RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
max_storage = "2TB"
"""


def test_a_patch_judged_on_a_policy_read_before_its_facts_waited_is_judged_again(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """A storage bound on development: alice's no-approval retention=9d is judged on the policy read under its
    lease, then on its backups, read after it. Listing the backups is answered 429 (Retry-After: 3); while the
    client waits, the policy is moved to production. Before the fix the PATCH, which itself waited for nothing,
    left on the judgement of the policy read before that wait; now any wait since the read has it judged again."""
    approvals_bot.use_rules(BOUNDED)
    sleeps.during = lambda: planetscale.dashboard_change("acme", "app-db", DEV, target="production")
    planetscale.add_fault(Fault(status=429, method="GET", path_contains="/backups", times=1, retry_after="3"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert sleeps == [3.0]
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()

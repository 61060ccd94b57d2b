"""One judge, on what was read under the lease: a change is judged on the policy as read under its lease, not as
asked; a PATCH landing while the sweep settles it, or told applied before a later change, is not recorded failed;
requests and reverts stored by an instance that stopped are still posted, and a bulk change not asked twice; a
storage guardrail is judged on the facts gathered under the lease. Driven through Bolt's pipeline with the
emulators."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from approval_helpers import (
    ALICE,
    BOB,
    CAROL,
    RULES,
    approvals_bot,
    ask,
    direct_messages,
    judged_snapshots,
    patch_in_flight,
    request_id,
    second_instance,
    sweep,
)
from conftest import Bot
from instance_ends import Died, dies_after
from test_inbox import ASKING, PROD, Instances, acked, instances, keeper_of
from test_one_judge import MOVE_RULES, RANDOM, dispatch, wait_for_patch

from bot.adapters.store.inbox import LEASE_SECONDS, Inbox
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackState
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot", "instances", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval
GUARDED = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "60GB"
"""


def moved_to_production_before_the_claim(bot: Bot, planetscale: PlanetScaleState,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone moves the policy to production in PlanetScale's dashboard after the change was asked and read,
    just before the bot claims its lease."""
    store = bot.deps.store
    real = store.claim_for_applying
    moved: list[bool] = []

    def claim(request: Any, from_states: Any, lease_seconds: float) -> Any:
        if not moved:
            moved.append(True)
            planetscale.dashboard_change("acme", "app-db", DEV, target="production")
        return real(request, from_states, lease_seconds)

    monkeypatch.setattr(store, "claim_for_applying", claim)


def test_a_no_approval_change_is_judged_on_the_policy_as_read_under_its_lease_not_as_asked(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice asks retention=9d on a development policy from #random (no approval there). Before the bot claims
    its lease, the policy is moved to production in PlanetScale, where a change needs one approval and may only
    be asked in #db-ops. Read under the lease, the judge would hold it back; nothing may be sent."""
    moved_to_production_before_the_claim(approvals_bot, planetscale, monkeypatch)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert planetscale.policy("acme", "app-db", DEV)["target"] == "production"
    assert not planetscale.calls("PATCH"), f"a PATCH reached a production policy with no approval: {reply.all_text()}"
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED


def test_a_patch_landing_while_the_sweep_settles_it_is_not_recorded_failed(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's PATCH stalls past its worker's lease. The sweep takes the request over and reads the policy: not
    held yet. Just then PlanetScale carries the PATCH out and answers the worker, which finds the request still
    applying (under the sweep's lease) and says "already being applied"; the sweep then writes "PlanetScale
    does not hold the change". PlanetScale holds it; the record, the thread and alice are told it failed."""
    changes = approvals_bot.deps.changes
    now, stalled, worker = patch_in_flight(approvals_bot, planetscale, DEV)
    sweeper = threading.get_ident()
    real_find = changes.policies.find_policy

    def find(*args: Any, **kwargs: Any) -> Any:
        read = real_find(*args, **kwargs)
        if threading.get_ident() == sweeper and not stalled.is_set():
            stalled.set()  # the PATCH lands, and its answer reaches the worker, right after the sweep's read
            worker.join(20)
        return read

    monkeypatch.setattr(changes.policies, "find_policy", find)
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    assert not worker.is_alive()
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9  # PlanetScale holds it
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    told = " ".join(direct_messages(approvals_bot, ALICE))
    assert request.state is RequestState.APPLIED, f"recorded {request.state}: {request.detail}; alice: {told}"


def test_a_request_stored_by_an_instance_that_stopped_before_posting_it_is_still_posted(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice asks a change that needs an approval; her instance stores the request, then stops before
    chat.postMessage. Another instance's inbox keeper and sweep run later: the approvers must be shown the
    request (or alice told), not find out from an expiry a day later."""
    stopping, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    dies_after(monkeypatch, stopping.deps.store, "add_request")
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.PENDING])
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=30)
    sweep(alive)
    assert alive.executor.wait_idle(timeout=30)
    shown = [e for e in slack.events if e.kind == "message" and request.id in json.dumps(e.blocks or [])]
    told = [t for t in [*direct_messages(alive, ALICE), *(e.text for e in slack.events if e.kind == "response")]
            if "approval" in t]
    assert shown or told, "the request is pending, unseen by any approver, and alice was told nothing"


def test_a_revert_stored_by_an_instance_that_stopped_before_posting_it_is_still_posted(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As above, for a Revert click: the work redone finds the open revert its first run stored (not one asked
    by someone else) and posts it, rather than answering that the revert is already asked."""
    stopping, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    alive.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    assert alive.executor.wait_idle(timeout=30)
    [asked] = [e for e in slack.events if e.kind == "message" and e.thread_ts is None and e.channel == "C0DBAOPS01"]
    alive.click(APPROVE, request_id(asked), user=CAROL, message=asked)
    assert alive.executor.wait_idle(timeout=30)
    shown = [e for e in slack.events if e.ts == asked.ts and e.kind in ("message", "update")]
    [revert] = [e for b in shown[-1].blocks for e in b.get("elements", []) if e.get("action_id") == REVERT]
    dies_after(monkeypatch, stopping.deps.store, "add_request")
    assert acked(stopping, stopping.click_body(REVERT, revert["value"], user=ALICE, message=shown[-1])) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = [r for r in alive.deps.store.requests([RequestState.PENDING]) if r.revert_of]
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=30)
    posted = [e for e in slack.events if e.kind == "message" and request.id in json.dumps(e.blocks or [])]
    assert posted, "the revert is pending, unseen by any approver"
    assert len(alive.deps.store.requests([RequestState.PENDING])) == 1


def test_a_late_move_to_production_is_not_missed_by_a_read_reused_under_the_lease(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's approved move of a development policy to production stalls at PlanetScale past its worker's
    lease; the sweep finds it not held and closes it as failed, so the database looks quiet. bob asks
    retention=9d from #random; alice's PATCH lands as bob's lease is being taken. Read under bob's lease, the
    policy is production: held back. A read taken before the lease and reused would send it."""
    changes = approvals_bot.deps.changes
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    approvals_bot.use_rules(MOVE_RULES)
    approvals_bot.command(f"update acme/app-db {DEV} target=production", user=ALICE)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == "C0DBAOPS01"]
    stall = threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=stall))
    clicking = threading.Thread(target=dispatch, args=(approvals_bot, approvals_bot.click_body(
        APPROVE, request_id(message), user=CAROL, message=message)))
    clicking.start()
    wait_for_patch(planetscale)
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    assert approvals_bot.deps.store.get_request(request_id(message)).state is RequestState.FAILED  # type: ignore[union-attr]
    store = approvals_bot.deps.store
    real_claim = store.claim_for_applying

    def claim(request: Any, from_states: Any, lease_seconds: float) -> Any:
        if not stall.is_set():
            stall.set()  # alice's PATCH lands as bob's lease is taken
            deadline = time.monotonic() + 60
            while planetscale.policy("acme", "app-db", DEV)["target"] != "production":
                assert time.monotonic() < deadline
                time.sleep(0.01)
        return real_claim(request, from_states, lease_seconds)

    monkeypatch.setattr(store, "claim_for_applying", claim)
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)
    clicking.join(30)
    assert approvals_bot.executor.wait_idle(60)
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] == 3, "bob's change reached the production policy without approval"


def test_a_bulk_change_stored_by_an_instance_that_stopped_after_it_is_not_asked_twice(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's bulk change is stored and posted for approval; her instance stops just before it marks the work
    done. Another instance's inbox keeper takes the row over and redoes the command from its body."""
    for n in (1, 2):
        planetscale.add_database("acme", f"shop-{n:02d}")
        planetscale.add_policy("acme", f"shop-{n:02d}", f"shop-{n:02d}-prod", name="Production daily",
                               target="production")
    stopping, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    inbox = stopping.executor.inbox
    assert isinstance(inbox, Inbox)
    write = inbox.write

    def write_or_die(takes: Sequence[tuple[str, str]], dones: Sequence[str]) -> set[str]:
        if dones:  # the work is marked done: the instance has stopped just before
            raise Died
        return write(takes, dones)

    monkeypatch.setattr(inbox, "write", write_or_die)
    assert acked(stopping, stopping.command_body(
        'update acme/shop-* * --where target=production retention=14d reason="audit"', user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    asked = [e for e in slack.events if e.kind == "message" and e.thread_ts is None and e.channel in slack.channels]
    assert len(asked) == 1, "the bulk change was not posted"
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=30)
    asked = [e for e in slack.events if e.kind == "message" and e.thread_ts is None and e.channel in slack.channels]
    assert len(asked) == 1, f"the bulk change was asked {len(asked)} times"


def test_a_patch_told_applied_at_planetscale_is_not_recorded_not_applied_after_a_later_change(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's retention=9d is answered 200 by PlanetScale; the bot's database fails as it records it, and alice
    is told "Applied at PlanetScale ... the sweep records it". Before the sweep, someone sets 5 days in the
    dashboard. The sweep reads back, finds 5, and records the request failed: "the bot stopped while PlanetScale
    was applying it. PlanetScale does not hold the change, so it was not applied" -- neither is true."""
    changes = approvals_bot.deps.changes
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    store = approvals_bot.deps.store
    real = store.transition

    def transition(request_id: str, from_states: Any, state: RequestState, **values: Any) -> Any:
        if state is RequestState.APPLIED:
            raise sa.exc.OperationalError("UPDATE change_requests", {}, Exception("server closed the connection"))
        return real(request_id, from_states, state, **values)

    monkeypatch.setattr(store, "transition", transition)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert "Applied at PlanetScale" in reply.all_text()
    monkeypatch.undo()  # the database is back
    planetscale.dashboard_change("acme", "app-db", DEV, retention_value=5, retention_unit="day")
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    told = " ".join(direct_messages(approvals_bot, ALICE))
    assert request.state is RequestState.APPLIED, f"recorded {request.state}: {request.detail}; alice: {told}"


def test_a_storage_guardrail_added_as_a_change_applies_is_judged_with_the_facts_it_gathered(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice asks retention=3d on the 12-hourly production policy (6 backups of 1.25 GB then). Its backups grow
    to 20 GB each; as carol's approval applies it, the access file gains `max_storage = "60GB"`. Whether the
    backups are read again and the verdict are decided on one reading of the rules: the judge never weighs a
    bound the facts were not gathered for (it weighed 7.5 GB against 60 GB and sent a change keeping 120 GB).
    The file read before the bound was added judges it; one read after it refuses it (below)."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=3d")
    planetscale.add_backup("acme", "app-db", PROD, size=20_000_000_000)
    changes = approvals_bot.deps.changes
    real = changes.storage_bounded
    swapped: list[bool] = []
    given_rules: list[bool] = []

    def storage_bounded(*args: Any, **kwargs: Any) -> bool:
        bounded = real(*args, **kwargs)
        # Swapped at applying's call, the second given the rules read (approving's, on its own reading, is first).
        given_rules.append(len(args) == 4 or "rules" in kwargs)
        if not swapped and given_rules.count(True) == 2 and given_rules[-1]:
            swapped.append(True)
            approvals_bot.use_rules(RULES.format(approvals=1) + GUARDED)
        return bounded

    judged = judged_snapshots(monkeypatch)
    changes.storage_bounded = storage_bounded  # type: ignore[method-assign]
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert swapped and judged
    bounds = [g.max_storage for g in judged[-1].rules.guardrails if g.max_storage]
    assert not bounds, "judged under a storage bound whose backups were not read again under the lease"


def test_a_storage_guardrail_in_place_when_a_change_applies_refuses_it_on_backups_read_under_the_lease(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=3d")
    planetscale.add_backup("acme", "app-db", PROD, size=20_000_000_000)
    approvals_bot.use_rules(RULES.format(approvals=1) + GUARDED)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []


def test_a_worker_that_stalls_past_its_lease_before_its_patch_sends_nothing_on_a_policy_moved_since(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """bob's retention=9d (development, no approval, from #random) is judged under its lease and its 'sending'
    recorded; its worker then stalls before the PATCH leaves (a process paused or starved) past the lease. The
    sweep closes it as failed; alice's approved move of the policy to production applies. bob's worker wakes and
    sends: 9 days reach the production policy, with no approval, from #random."""
    changes = approvals_bot.deps.changes
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    approvals_bot.use_rules(MOVE_RULES)
    approvals_bot.command(f"update acme/app-db {DEV} target=production", user=ALICE)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == "C0DBAOPS01"]
    stalled, wake = threading.Event(), threading.Event()
    client = changes.planetscale
    real_update = client.update_policy

    def update_policy(*args: Any) -> Any:
        if not stalled.is_set():
            stalled.set()
            wake.wait(30)
        return real_update(*args)

    client.update_policy = update_policy  # type: ignore[method-assign]
    bobs = threading.Thread(target=dispatch, args=(approvals_bot, approvals_bot.command_body(
        f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)))
    bobs.start()
    assert stalled.wait(60)
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)  # bob's: sent, not held, past its lease: closed as failed
    dispatch(approvals_bot, approvals_bot.click_body(APPROVE, request_id(message), user=CAROL, message=message))
    deadline = time.monotonic() + 60
    while planetscale.policy("acme", "app-db", DEV)["target"] != "production":
        assert time.monotonic() < deadline, "alice's move was not applied"
        time.sleep(0.02)
    wake.set()
    bobs.join(30)
    assert approvals_bot.executor.wait_idle(60)
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["retention_value"] == 3, "bob's stale PATCH reached the production policy without approval"

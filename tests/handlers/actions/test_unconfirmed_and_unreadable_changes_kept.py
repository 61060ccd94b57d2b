"""The judge and the lifecycle under unlucky interleavings: a change that cannot be judged under its lease is
not left to nobody, a PATCH that landed unconfirmed or late is settled rather than failed, an approved change
whose policy cannot be read keeps its approvals, and two Revert clicks on two instances make one request. Driven
through Bolt's pipeline with the emulators."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import httpx
from approval_helpers import (
    ALICE,
    BOB,
    CAROL,
    PROD,
    approvals_bot,
    ask,
    policy_busy,
    request_id,
    second_instance,
    sweep,
)
from conftest import DEMO_TOKEN, DEMO_TOKEN_ID, SIGNING_SECRET, Bot
from slack_bolt import BoltRequest

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.domain.change_requests import RequestState
from bot.domain.ports import Unreachable
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack_requests import signed_headers
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name


def state_of(bot: Bot, rid: str) -> RequestState:
    request = bot.deps.store.get_request(rid)
    assert request is not None
    return request.state

DEV = "bp03devday"
# Development changes need no approval, by a PlanetScale admin.
ROLE_DEV_RULES = """
[approvals]
expire_after = "24h"

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
planetscale_role = "admin"
"""


def test_a_change_needing_no_approval_that_cannot_be_judged_under_its_lease_is_not_left_to_nobody(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice's no-approval change is asked while another change holds its lease, so it is left to the sweep;
    read under its lease, PlanetScale's members cannot be read: nothing is sent (right), but the request must
    not become a pending request needing no approval that only an approver's click, which nobody is asked for,
    could ever move: the sweep judges it again and applies it."""
    approvals_bot.use_rules(ROLE_DEV_RULES)
    changes = approvals_bot.deps.changes
    real_find = changes.policies.find_policy
    reads: list[str] = []

    def find(db: Any, ref: str, visible: Any = None, listed: Any = None) -> Any:
        reads.append(ref)
        if len(reads) == 2:  # the read under the lease: the role look-up that follows fails for a while
            planetscale.add_fault(Fault(status=503, path_contains="/members", times=None))
        return real_find(db, ref, visible, listed)

    changes.policies.find_policy = find  # type: ignore[method-assign]
    try:
        with policy_busy(approvals_bot, DEV):
            approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
        [request] = approvals_bot.deps.store.requests(list(RequestState))
        now = [request.updated_at + 120]
        changes.clock = lambda: now[0]
        approvals_bot.deps.store.clock = lambda: now[0]
        sweep(approvals_bot)  # read under the lease: the role look-up fails
    finally:
        changes.policies.find_policy = real_find  # type: ignore[method-assign]
    assert len(reads) == 2
    assert planetscale.calls("PATCH") == []
    latest = approvals_bot.deps.store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPROVED
    said = " ".join(e.text + str(e.blocks) for e in approvals_bot.slack.events)
    assert "needs 0 approvals" not in said and "approve again" not in said, \
        "the requester is told her change waits for 0 approvals, and to approve it again herself"
    planetscale.faults.clear()
    now[0] += 120
    sweep(approvals_bot)
    latest = approvals_bot.deps.store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPLIED, \
        f"left {latest and latest.state} with nobody asked to move it"
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]
    assert any(e.kind == "update" and "changed the backup policy" in e.text for e in approvals_bot.slack.events)
    told = [e.text for e in approvals_bot.slack.events if e.channel == approvals_bot.slack.dm_channel(ALICE)]
    assert len(told) == 1 and ":white_check_mark:" in told[0]


def test_a_patch_that_landed_unconfirmed_late_in_its_requests_life_is_settled_not_failed(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves alice's request a little before it would expire; the PATCH lands but its answer is lost,
    and PlanetScale cannot be read for a couple of minutes. The request must stay applying (holding its policy)
    until PlanetScale can be read, then be applied: not failed as "could not be confirmed" with the change live
    and the policy given to the next change."""
    changes = approvals_bot.deps.changes
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    asked = approvals_bot.deps.store.get_request(request_id(message))
    assert asked is not None
    now = [asked.expires_at - 30]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    real = changes.planetscale

    def landed_then_lost(*_: object, **__: object) -> None:
        planetscale.dashboard_change("acme", "app-db", PROD, retention_value=5, retention_unit="day")
        planetscale.add_fault(Fault(status=503, method="GET", times=None))  # and PlanetScale cannot be read
        raise Unreachable("PlanetScale did not answer in time for acme/app-db: the change may or may not have "
                          "been applied; `show` it to check.")

    changes.planetscale = type("Lossy", (), {"update_policy": staticmethod(landed_then_lost),
                                             "worst_case_seconds": real.worst_case_seconds})()
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    changes.planetscale = real
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLYING
    now[0] += 120  # PlanetScale still cannot be read at the next sweep
    sweep(approvals_bot)
    planetscale.faults.clear()
    now[0] += 120
    sweep(approvals_bot)
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED, \
        "a change PlanetScale holds is recorded as not applied"
    assert not [e for e in approvals_bot.audit.all() if e.request_id == request_id(message) and e.action == "failed"]


def test_two_revert_clicks_on_two_instances_make_one_request(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    applied = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(applied), user=CAROL, message=applied)
    shown = [e for e in approvals_bot.slack.events if e.ts == applied.ts and e.kind in ("message", "update")]
    revert = next(e for b in shown[-1].blocks for e in b.get("elements", []) if e.get("action_id") == REVERT)
    start = threading.Barrier(2)
    # Each instance reads the policy after looking for an open revert: both look before either has asked.
    both_looked = threading.Barrier(2, timeout=10)
    for bot in (approvals_bot, second_instance):
        def find(db: Any, ref: str, visible: Any = None, listed: Any = None,
                 real: Any = bot.deps.changes.policies.find_policy) -> Any:
            with contextlib.suppress(threading.BrokenBarrierError):  # once fixed, the second may wait instead
                both_looked.wait()
            return real(db, ref, visible, listed)
        bot.deps.changes.policies.find_policy = find  # type: ignore[method-assign]

    def click(bot: Bot, user: str) -> None:
        body = bot.click_body(REVERT, revert["value"], user=user, message=applied)
        start.wait()
        bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))

    threads = [threading.Thread(target=click, args=(approvals_bot, BOB)),
               threading.Thread(target=click, args=(second_instance, ALICE))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert approvals_bot.executor.wait_idle(60) and second_instance.executor.wait_idle(60)
    reverts = [r for r in approvals_bot.deps.store.requests() if r.revert_of == request_id(applied)]
    assert len(reverts) == 1, "two Revert clicks on two instances made two pending requests"


def test_a_patch_planetscale_carries_out_after_the_bot_stopped_waiting_is_not_told_as_not_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves alice's change; PlanetScale holds the PATCH longer than the bot waits for any answer, then
    carries it out. The bot must not tell everyone "not applied" (and give the policy to the next change) on a
    read made right after it stopped waiting: the sweep finds the change held and records it applied."""
    changes = approvals_bot.deps.changes
    real = changes.planetscale
    quick = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, real.base_url, timeout=httpx.Timeout(0.3),
                              retry=RetryPolicy(attempts=1), sleep=lambda _: None)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, method="PATCH"))
    changes.planetscale = quick  # type: ignore[assignment]
    try:
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    finally:
        changes.planetscale = real
        held.set()
        deadline = time.monotonic() + 60
        while planetscale.policy("acme", "app-db", PROD)["retention_value"] != 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        quick.close()
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5, "the held PATCH never landed"
    now = time.time() + 600
    changes.clock = lambda: now
    approvals_bot.deps.store.clock = lambda: now
    sweep(approvals_bot)
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED, \
        "told 'not applied' while PlanetScale carried the change out"
    assert not [e for e in approvals_bot.audit.all() if e.request_id == request_id(message) and e.action == "failed"]


def test_an_approved_change_whose_policy_cannot_be_read_under_its_lease_keeps_its_approvals(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves alice's request while PlanetScale cannot be read for a moment. Nothing may be sent (right),
    but a passing outside failure closes nothing: the approved request is not failed (its approvals lost, to
    be asked and given again); the sweep reads the policy again and applies it."""
    changes = approvals_bot.deps.changes
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    planetscale.add_fault(Fault(status=503, method="GET", times=None))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    planetscale.faults.clear()
    assert planetscale.calls("PATCH") == []
    assert state_of(approvals_bot, request_id(message)) is not RequestState.FAILED, \
        "a passing failure to read PlanetScale closed an approved request"
    assert "Not applied:" not in reply.all_text() and "tries again shortly" in reply.all_text()
    asked = approvals_bot.deps.store.get_request(request_id(message))
    assert asked is not None
    now = asked.updated_at + 120
    changes.clock = lambda: now
    approvals_bot.deps.store.clock = lambda: now
    sweep(approvals_bot)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 5, "retention_unit": "day"}]
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED

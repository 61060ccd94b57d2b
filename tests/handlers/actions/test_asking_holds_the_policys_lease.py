"""The asking door's lease: a change being asked keeps a move of its policy from applying meanwhile, a move waits
for a PATCH whose outcome is unknown, form changes redone after their instance stopped are told truly, a change
asked while a stopped asker's lease runs is applied once it ends, and a queued change the rules now put to
approvers is shown for approval. Driven through Bolt's pipeline with the emulators."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from approval_helpers import ALICE, BOB, CAROL, approvals_bot, request_id, second_instance, sweep
from conftest import Bot
from instance_ends import Died
from test_inbox import ASKING, PROD, Instances, acked, instances, keeper_of
from test_one_judge import MOVE_RULES, RANDOM, dispatch, wait_for_patch

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import state_values, view_submission_body
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "instances", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def asked_while_a_move_applies(approver_bot: Bot, asker_bot: Bot, planetscale: PlanetScaleState) -> None:
    """bob asks retention=9d on a development policy from #random (no approval there): his worker takes the
    policy's lease, reads it (development) and is judged. Before it stores and sends, carol approves alice's move
    of the policy to production, which claims the database's lease (a move's), not the policy's: nothing stored
    is applying on the policy, so it is claimed, read and sent. bob's worker then sends 9 days to what is now a
    production policy, with no approval, from a channel where production is off limits."""
    approver_bot.use_rules(MOVE_RULES)
    asker_bot.use_rules(MOVE_RULES)
    approver_bot.command(f"update acme/app-db {DEV} target=production", user=ALICE)
    [message] = [e for e in approver_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == "C0DBAOPS01"]
    judged, go_on = threading.Event(), threading.Event()
    store = asker_bot.deps.store
    real_add = store.add_request

    def add_request(*args: Any, **kwargs: Any) -> Any:
        judged.set()  # bob's change is read and judged under the policy's lease; not stored yet
        go_on.wait(20)
        return real_add(*args, **kwargs)

    store.add_request = add_request  # type: ignore[method-assign]
    bobs = threading.Thread(target=dispatch, args=(asker_bot, asker_bot.command_body(
        f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)))
    bobs.start()
    assert judged.wait(60)
    store.add_request = real_add  # type: ignore[method-assign]
    approving = approver_bot.deps.store
    real_claim = approving.claim_for_applying
    refused = threading.Event()

    def claim(*args: Any, **kwargs: Any) -> Any:
        got = real_claim(*args, **kwargs)
        if got is None:
            refused.set()  # the move waits for bob's change
        return got

    approving.claim_for_applying = claim  # type: ignore[method-assign]
    clicking = threading.Thread(target=dispatch, args=(approver_bot, approver_bot.click_body(
        APPROVE, request_id(message), user=CAROL, message=message)))
    clicking.start()
    deadline = time.monotonic() + 60
    while planetscale.policy("acme", "app-db", DEV)["target"] != "production" and not refused.is_set():
        assert time.monotonic() < deadline, "alice's move was neither sent nor held back"
        time.sleep(0.02)
    go_on.set()
    bobs.join(30)
    clicking.join(30)
    assert approver_bot.executor.wait_idle(60) and asker_bot.executor.wait_idle(60)
    patches = [c.body for c in planetscale.calls("PATCH")]
    # bob's change lands on development, before the move; the move applies after it.
    assert patches == [{"retention_value": 9, "retention_unit": "day"}, {"target": "production"}], \
        f"bob's change reached the production policy without approval: {patches}"


def test_a_change_being_asked_keeps_a_move_of_its_policy_from_applying_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    asked_while_a_move_applies(approvals_bot, approvals_bot, planetscale)


def test_a_change_being_asked_keeps_a_move_of_its_policy_from_applying_meanwhile_across_instances(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    asked_while_a_move_applies(approvals_bot, second_instance, planetscale)


FREE_RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = ["U0ALICE001", "U0BOB00001"]
approvers = ["U0CAROL001"]

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["U0ALICE001", "U0BOB00001"]
approvers = ["U0CAROL001"]
"""


def move_while_a_patch_is_unsettled(bot: Bot, planetscale: PlanetScaleState, ref: str) -> list[Any]:
    """bob's retention=9d is sent and PlanetScale holds its answer; his worker stalls past its lease, so the
    request is left applying, its outcome unknown, until the sweep settles it. alice then moves the policy to
    production (no approval needed under these rules), asking it by `ref`. The PATCHes sent before bob's ends."""
    changes = bot.deps.changes
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    bot.deps.store.clock = lambda: now[0]

    def pause(seconds: float) -> None:
        now[0] += seconds

    changes.pause = pause
    bot.use_rules(FREE_RULES)
    stall = threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=stall))
    bobs = threading.Thread(target=dispatch, args=(bot, bot.command_body(
        f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)))
    bobs.start()
    wait_for_patch(planetscale)
    now[0] += changes.lease_seconds + 1
    dispatch(bot, bot.command_body(f"update acme/app-db {ref} target=production", user=ALICE, channel=RANDOM))
    deadline = time.monotonic() + 60
    while len(planetscale.calls("PATCH")) < 2:  # alice's change sent, or stored to wait for bob's
        alices = [r for r in bot.deps.store.requests(list(RequestState)) if r.requester == ALICE]
        if alices and alices[0].state is not RequestState.APPLYING:
            break
        assert time.monotonic() < deadline, "alice's change was neither sent nor held back"
        time.sleep(0.02)
    sent = [c.body for c in planetscale.calls("PATCH")]
    stall.set()
    bobs.join(30)
    assert bot.executor.wait_idle(60)
    return sent


def test_a_move_asked_by_id_waits_for_a_patch_whose_outcome_is_unknown(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    sent = move_while_a_patch_is_unsettled(approvals_bot, planetscale, DEV)
    assert sent == [{"retention_value": 9, "retention_unit": "day"}]


def test_a_move_asked_by_name_waits_for_a_patch_whose_outcome_is_unknown(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    sent = move_while_a_patch_is_unsettled(approvals_bot, planetscale, '"Development daily"')
    assert sent == [{"retention_value": 9, "retention_unit": "day"}], \
        "alice's move was sent while bob's PATCH on the policy had no known outcome"


def test_a_form_change_redone_after_its_instance_stopped_is_not_told_nothing_was_sent(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice confirms retention=9d in the edit form; her instance applies it (PlanetScale holds it, the request
    is recorded applied) and stops before showing it anywhere. Were the form's work redone from the inbox by
    another instance, the policy would no longer read as the form showed it (alice's own change moved it), and
    the form would say "nothing was sent": the work is done once the request is stored approved or applying."""
    stopping, alive = instances.start(), instances.start()
    stopping.command(f"edit acme/app-db {PROD}", user=ALICE)
    assert stopping.executor.wait_idle(timeout=30)
    form = stopping.current_view()
    confirm = stopping.submit(form, {"retention_value": "9"}).ack["view"]
    confirm["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    store = stopping.deps.store
    real = store.transition

    def transition(request_id: str, from_states: Any, state: RequestState, **values: Any) -> Any:
        moved = real(request_id, from_states, state, **values)
        if state is RequestState.APPLIED:
            raise Died
        return moved

    monkeypatch.setattr(store, "transition", transition)
    member = slack.users[ALICE]
    body = view_submission_body(user_id=ALICE, user_name=member.name, view=confirm,
                                values=state_values(confirm, {}))
    assert acked(stopping, body) == 200
    stopping.executor.wait_idle(timeout=30)
    assert len(alive.deps.store.requests([RequestState.APPLIED])) == 1
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 9
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=30)
    assert len(planetscale.calls("PATCH")) == 1
    shown = json.dumps(alive.current_view())
    assert "nothing was sent" not in shown, f"alice is told nothing was sent; PlanetScale holds it: {shown}"


def test_a_form_request_stored_before_its_instance_stopped_is_not_told_unsent_when_redone(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice confirms retention=9d on the production policy in the edit form (one approval needed); her instance
    stores the request and stops before posting it. Meanwhile the policy is renamed in PlanetScale. Another
    instance redoes the form's work: it reads the policy, finds it no longer as the form showed it, and tells
    alice "nothing was sent ... make your change again", while her request stays pending, unposted, for the
    approvers to find in their pending list and approve (the rename does not stop it applying)."""
    stopping, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    stopping.command(f"edit acme/app-db {PROD}", user=ALICE)
    assert stopping.executor.wait_idle(timeout=30)
    form = stopping.current_view()
    confirm = stopping.submit(form, {"retention_value": "9"}).ack["view"]
    confirm["id"] = form["id"]
    store = stopping.deps.store
    real_add = store.add_request

    def add_request(*args: Any, **kwargs: Any) -> Any:
        real_add(*args, **kwargs)
        raise Died

    monkeypatch.setattr(store, "add_request", add_request)
    member = slack.users[ALICE]
    body = view_submission_body(user_id=ALICE, user_name=member.name, view=confirm,
                                values=state_values(confirm, {}))
    assert acked(stopping, body) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.PENDING])
    planetscale.dashboard_change("acme", "app-db", PROD, name="Production (renamed)")
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=30)
    shown = json.dumps(alive.current_view())
    latest = alive.deps.store.get_request(request.id)
    assert latest is not None
    assert not ("nothing was sent" in shown and latest.state is RequestState.PENDING), \
        "alice is told nothing was sent, and her request waits for approval"


def test_a_change_asked_while_a_stopped_askers_lease_runs_is_told_the_truth_and_applied_once_it_ends(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's worker stops (its process ends) while asking a change on the development policy, holding the
    policy's lease with nothing stored. bob asks retention=9d there: he waits, then his change is queued for the
    sweep, which applies it, judged again under the lease, once the stopped worker's lease has run out."""
    changes = approvals_bot.deps.changes
    now = [1_000_000.0]
    hold_the_policy_as_a_stopped_asker(approvals_bot, monkeypatch, now)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)
    assert planetscale.calls("PATCH") == []
    said = reply.all_text()
    assert not approvals_bot.deps.store.requests([RequestState.APPLYING])
    assert "being applied" not in said, f"bob is told another change is being applied; none is: {said}"
    now[0] += changes.lease_seconds + 61
    sweep(approvals_bot)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]


def hold_the_policy_as_a_stopped_asker(bot: Bot, monkeypatch: pytest.MonkeyPatch, now: list[float]) -> None:
    """alice's worker stops while asking a change on the development policy: its lease is held, nothing stored."""
    changes = bot.deps.changes
    changes.clock = lambda: now[0]
    bot.deps.store.clock = lambda: now[0]

    def pause(seconds: float) -> None:
        now[0] += seconds

    changes.pause = pause
    store = bot.deps.store
    real_release = store.release
    stopped: list[bool] = []

    def release(claim: Any) -> None:
        if not stopped:
            real_release(claim)

    def list_policies(*args: Any, **kwargs: Any) -> Any:
        stopped.append(True)
        raise Died

    with monkeypatch.context() as patched:
        patched.setattr(store, "release", release)
        patched.setattr(changes.policies, "list_policies", list_policies)
        dispatch(bot, bot.command_body(f"update acme/app-db {DEV} retention=5d", user=ALICE))
        bot.executor.wait_idle(30)
    assert stopped


def test_a_queued_change_whose_rules_now_ask_an_approval_is_shown_for_approval(
        approvals_bot: Bot, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """bob's retention=9d on the development policy needs no approval when asked, but the policy's lease is held,
    so it is queued for the sweep. Before the sweep, the rules come to ask one approval from carol for
    development. Judged again under the lease, it waits: nothing is sent, and its message offers carol the
    Approve button; bob hears it waits."""
    now = [1_000_000.0]
    approvals_bot.use_rules(MOVE_RULES)
    hold_the_policy_as_a_stopped_asker(approvals_bot, monkeypatch, now)
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)
    [queued] = approvals_bot.deps.store.requests([RequestState.APPROVED])
    approvals_bot.use_rules(MOVE_RULES.rstrip() + "\napprovals = 1\n")  # the development rule, last
    now[0] += approvals_bot.deps.changes.lease_seconds + 61
    sweep(approvals_bot)
    assert approvals_bot.executor.wait_idle(30)
    assert planetscale.calls("PATCH") == []
    latest = approvals_bot.deps.store.get_request(queued.id)
    assert latest is not None and latest.state is RequestState.PENDING, latest
    shown = [e for e in slack.events if e.kind in ("message", "update") and queued.id in json.dumps(e.blocks or [])]
    assert shown and APPROVE in json.dumps(shown[-1].blocks), "carol is never offered the approval it waits for"

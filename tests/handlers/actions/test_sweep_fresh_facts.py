"""The sweep's turns, tried as an attacker of the two-person rule would (issue 19, review rev19j's suspicions): a
verdict the sweep reaches on facts read again is the one it acts on, and a cannot-tell turn stays at the next sweep
however the clicks race."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from access_rules import guardrail
from approval_helpers import ALICE, CAROL, LEADS, RULES, approvals_bot, policy_busy, request_message, sweep
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.domain.outcomes import SYSTEM
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

WEEKLY = "bp02prodwk"  # acme/app-db's production weekly policy; bp01prod12h is its other production policy
FLOOR = guardrail("production", min_policies=1)


def test_the_sweep_acts_on_its_verdict_on_facts_read_again_not_on_the_facts_free_one(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Production asks two approvals, under a floor of one production policy; alice asks to delete the weekly
    one (two there) and carol approves: one of two. The other production policy is then moved to development in
    PlanetScale, and the rules ask one approval. At the request's turn the sweep judges it with no facts (apply:
    carol's approval suffices) and again on the policies read now (refuse: the floor). It must act on the second:
    closed, with the floor's reason, nothing sent, by the bot. It was moved to approved on the first, left there
    ("Approved", queued for the sweep) while another change held the policy, and the floor's refusal, once the lease
    came, recorded as carol's."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    approvals_bot.use_rules(RULES.format(approvals=2) + FLOOR)
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    approvals_bot.click(APPROVE, request.id, user=CAROL, message=request_message(approvals_bot))
    planetscale.policies[("acme", "app-db")]["bp01prod12h"]["target"] = "development"
    approvals_bot.use_rules(RULES.format(approvals=1) + FLOOR)
    events = len(approvals_bot.audit.all())
    now[0] += JUDGE_AGAIN_SECONDS + 1
    with policy_busy(approvals_bot, WEEKLY):  # another change holds its lease: a change approved would queue
        sweep(approvals_bot)
    done = approvals_bot.deps.store.get_request(request.id)
    assert done is not None and done.state is RequestState.FAILED, \
        f"refused on the policies read again, yet {done and done.state.value} on the facts-free verdict"
    assert "production policies of acme/app-db would be 0" in (done.detail or "")
    [failed] = [e for e in approvals_bot.audit.all()[events:] if e.action == "failed"]
    assert failed.actor == SYSTEM, f"the judge's refusal recorded as {failed.actor}'s"
    assert not planetscale.calls("DELETE")
    assert WEEKLY in planetscale.policies[("acme", "app-db")]


def test_a_cannot_tell_turn_is_not_pushed_out_by_a_racing_click_that_judged_fewer_approvals(
    approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production asks two approvals, under a floor of one production policy; alice asks to delete the weekly
    one (two there). lead2 clicks Approve: her approval alone is judged (one of two: waiting), and her click
    stalls before it writes so. carol clicks meanwhile, while PlanetScale does not list the policies: "the bot
    judges it again shortly" (its turn: the next sweep). lead2's click then writes its wait, with its turn ten
    minutes out (JUDGE_AGAIN_SECONDS), over carol's: a sweep two minutes later must apply it, two of two."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    approvals_bot.use_rules(RULES.format(approvals=2) + FLOOR)
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    message = request_message(approvals_bot)
    store, real = approvals_bot.deps.store, approvals_bot.deps.store.transition
    stalled, go_on = threading.Event(), threading.Event()

    def transition(request_id: str, from_states: Any, state: RequestState, **values: Any) -> Any:
        if state is RequestState.PENDING and "judge_at" in values and not stalled.is_set():
            stalled.set()  # lead2's wait, judged, not yet written
            assert go_on.wait(30)
        return real(request_id, from_states, state, **values)

    def judge_later(request_id: str, at: float) -> None:
        real_later(request_id, at)
        judged_later.set()  # carol's: due at the next sweep

    real_later, judged_later = store.judge_later, threading.Event()
    monkeypatch.setattr(store, "transition", transition)
    monkeypatch.setattr(store, "judge_later", judge_later)
    heard: list[str] = []

    def click(user: str) -> threading.Thread:
        clicked = threading.Thread(target=lambda: heard.append(approvals_bot.click(
            APPROVE, request.id, user=user, message=message).all_text()))
        clicked.start()
        return clicked

    lead2 = click(LEADS[1])
    assert stalled.wait(30), "lead2's click never judged a wait"
    failing = planetscale.add_fault(Fault(status=503, method="GET", path_contains="/app-db/backup-policies",
                                          times=None))
    carol = click(CAROL)
    assert judged_later.wait(30), "carol's click never made it due at the next sweep"
    planetscale.faults.remove(failing)
    go_on.set()
    for clicked in (lead2, carol):
        clicked.join(60)
    said = "".join(heard)
    assert "judges it again shortly" in said and "1 of 2" in said, said
    now[0] += 120
    sweep(approvals_bot)
    done = approvals_bot.deps.store.get_request(request.id)
    assert done is not None and done.state is RequestState.APPLIED, \
        f"two approvals of two, told 'judged again shortly', not judged two minutes on: {done and done.state.value}"
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]

"""Issue 19: a write judged on a policy read too long ago, whatever held it up, is judged again before it leaves.
Through Bolt's pipeline and the emulators; time moves only on the injected clock."""

from __future__ import annotations

import time
from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.ports import FRESH_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_patch_held_up_by_a_stalled_database_is_not_sent_onto_a_policy_moved_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's no-approval retention=9d on a development policy is judged under its lease; the write that records
    its "sending" stalls (the database held it up, which the PlanetScale client never hears of) and meanwhile the
    policy is moved to production. Its PATCH waited for nothing of its own, yet the judgement is old: judged again
    on a fresh read, it is refused and nothing is sent."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    store = approvals_bot.deps.store
    real = store.renew
    stalled: list[str] = []

    def renew(claim: Any, lease_seconds: float, record: Any = None) -> Any:
        done = real(claim, lease_seconds, record=record)
        if record is not None and record.action == "sending":
            stalled.append(record.action)
            planetscale.dashboard_change("acme", "app-db", DEV, target="production")
            now[0] += FRESH_SECONDS + 1  # the stall (far past a fresh read), after the write that records the send
        return done

    monkeypatch.setattr(store, "renew", renew)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    policy = planetscale.policy("acme", "app-db", DEV)
    assert stalled and policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()


def test_a_patch_sent_promptly_reads_the_policy_once(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """The same change with no stall (the clock stands still): its policy is read once and the PATCH lands."""
    now = time.time()
    approvals_bot.deps.changes.clock = lambda: now
    approvals_bot.deps.store.clock = lambda: now
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    assert len(planetscale.calls("PATCH")) == 1
    assert not [c for c in planetscale.calls("GET") if c.path.endswith(f"/{DEV}")], planetscale.calls("GET")


def test_a_patch_that_found_no_thread_for_its_answer_is_told_as_never_sent(
        approvals_bot: Bot, planetscale: PlanetScaleState, planetscale_client: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every thread that waits for an answer's head is taken (trickled answers elsewhere) until alice's PATCH
    gives up its turn: it never left, so she is told nothing was sent, not that it may have been applied."""
    within = planetscale_client._within
    real = within.send

    def send(request: Any, deadline: float, **kwargs: Any) -> Any:
        if request.method != "PATCH":
            return real(request, deadline, **kwargs)
        held = within.threads
        full = type(held)(1, "held")  # the same kind of pool, its one thread taken
        full.free.acquire()
        within.threads = full
        try:
            return real(request, time.monotonic(), **kwargs)  # its turn's deadline, come while every thread is held
        finally:
            within.threads = held

    monkeypatch.setattr(within, "send", send)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE).all_text()
    assert not planetscale.calls("PATCH") and planetscale.policy("acme", "app-db", DEV)["retention_value"] != 9
    assert "may or may not" not in reply and "Not applied" in reply, reply

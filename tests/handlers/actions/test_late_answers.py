"""PlanetScale's answer to a PATCH that outlived its worker's lease, wherever it falls among the sweep's steps
(review rev19, finding 2): the sweep takes the request over and settles it by reading the policy; the PATCH lands,
and its answer reaches the worker, before the sweep, between its read and its write, or after its write. Every
order ends the same way: one PATCH, the request applied, and alice never left with "not applied"."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot, direct_messages, patch_in_flight, sweep
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval
# Where the PATCH lands and its answer reaches the worker, among the sweep's steps.
ORDERS = ["before the sweep", "after the sweep's read", "after the sweep's write"]


@pytest.mark.parametrize("lands", ORDERS)
@pytest.mark.parametrize("changed_after", [False, True], ids=["alone", "changed in the dashboard after"])
def test_a_late_answer_is_recorded_applied_wherever_it_falls_among_the_sweeps_steps(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch, lands: str,
        changed_after: bool) -> None:
    changes = approvals_bot.deps.changes
    now, stalled, worker = patch_in_flight(approvals_bot, planetscale, DEV)

    def answered() -> None:
        """The PATCH lands, and the worker hears PlanetScale's answer and acts on it, to the end."""
        stalled.set()
        worker.join(20)
        assert not worker.is_alive()
        if changed_after:
            planetscale.dashboard_change("acme", "app-db", DEV, retention_value=5, retention_unit="day")

    sweeper = threading.get_ident()
    real_find = changes.policies.find_policy

    def find(*args: Any, **kwargs: Any) -> Any:
        read = real_find(*args, **kwargs)
        if lands == ORDERS[1] and threading.get_ident() == sweeper and not stalled.is_set():
            answered()
        return read

    monkeypatch.setattr(changes.policies, "find_policy", find)
    now[0] += changes.lease_seconds + 1
    if lands == ORDERS[0]:
        answered()
    sweep(approvals_bot)
    if lands == ORDERS[2]:
        answered()
    sweep(approvals_bot)
    assert approvals_bot.executor.wait_idle(30)
    assert len(planetscale.calls("PATCH")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    told = direct_messages(approvals_bot, ALICE)
    assert request.state is RequestState.APPLIED, f"recorded {request.state}: {request.detail}; alice: {told}"
    assert request.after is not None and request.after["retention_value"] == 9
    answers = [e.text for e in approvals_bot.slack.events if e.kind == "response"]
    if lands == ORDERS[2]:  # closed as failed first, and told so: then told again that it applied
        assert told and "Not applied" not in told[-1], f"alice was last told: {told}"
    else:
        assert not [t for t in [*told, *answers] if "Not applied" in t], f"alice was told: {told}, {answers}"

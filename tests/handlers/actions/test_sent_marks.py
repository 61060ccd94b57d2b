"""Issue 19: a request whose write its fence kept unsent (judged again, it could not tell; or its worker lost the
lease) carries a `sending` entry of a write that never left, and its own `unsent` mark after it. A later attempt
that stops before it sends is judged again by the sweep, not settled as a send PlanetScale did not carry out; one
that stops after a write that left is settled by what PlanetScale holds, never sent again, whatever entries follow
it. Through Bolt's pipeline and the emulators."""

from __future__ import annotations

import time
from typing import Any

import pytest
from approval_helpers import ALICE, RULES, approvals_bot, sweep
from conftest import Bot
from instance_ends import Died

from bot.domain.change_requests import RequestState
from bot.domain.outcomes import NOBODY_LEFT, SYSTEM, request_event
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval
ADMIN_DEV = RULES.format(approvals=1) + 'planetscale_role = "admin"\n'


def kept_unsent(approvals_bot: Bot, planetscale: PlanetScaleState, now: list[float]) -> str:
    """alice's no-approval retention=9d: its PATCH is refused unread (429) and waits; judged again, her
    PlanetScale role cannot be read (403), so nothing more is sent and the change waits for the sweep. Its ID."""
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    changes.clock = store.clock = lambda: now[0]
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    planetscale.add_fault(Fault(status=403, method="GET", path_contains="/members", times=1, skip=1))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.APPROVED and len(planetscale.calls("PATCH")) == 1, reply.all_text()
    return request.id


def test_a_change_whose_fence_kept_its_write_unsent_is_judged_again_after_a_later_attempt_stopped(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's no-approval retention=9d: its PATCH is refused unread (429) and waits; judged again, her PlanetScale
    role cannot be read (403), so nothing is sent and the change waits for the sweep. The sweep's attempt stops
    right after claiming it (its instance ends). The next sweep finds it applying, with the first attempt's
    `sending` on the record, and closes it as a send PlanetScale did not carry out ("the bot stopped while
    PlanetScale was applying it"), though no write ever left: it must judge it again and apply it."""
    approvals_bot.use_rules(ADMIN_DEV)
    now = [time.time()]
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    request_id = kept_unsent(approvals_bot, planetscale, now)
    real = changes.policies.list_policies

    def stops(*args: Any, **kwargs: Any) -> Any:
        raise Died

    monkeypatch.setattr(changes.policies, "list_policies", stops)
    now[0] += 600
    with pytest.raises(Died):
        sweep(approvals_bot)
    monkeypatch.setattr(changes.policies, "list_policies", real)
    assert store.get_request(request_id).state is RequestState.APPLYING  # claimed, and its worker gone
    now[0] += 2 * changes.lease_seconds
    sweep(approvals_bot)
    latest = store.get_request(request_id)
    assert latest is not None and latest.state is RequestState.APPLIED, (
        f"{latest.state if latest else None}: {latest.detail if latest else ''}")
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    assert len(planetscale.calls("PATCH")) == 2  # the one refused unread, and the sweep's


def test_a_write_kept_unsent_by_a_lost_lease_is_judged_again_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's no-approval retention=9d: its PATCH is refused unread (429) and waits; judged again on a fresh read,
    its worker stalls past its lease there, so its fence keeps the write unsent (LeaseLost). The request is left
    applying with its `sending` on the record; the sweep must judge it again and apply it, not close it as a send
    PlanetScale did not carry out."""
    now = [time.time()]
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    changes.clock = store.clock = lambda: now[0]
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    real = changes.policies.list_policies
    reads = [0]

    def stalls(*args: Any, **kwargs: Any) -> Any:
        reads[0] += 1
        listed = real(*args, **kwargs)
        if reads[0] == 2:  # the fence's read, judging it again: the worker stalls past its lease after it
            now[0] += 2 * changes.lease_seconds
        return listed

    monkeypatch.setattr(changes.policies, "list_policies", stalls)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    monkeypatch.setattr(changes.policies, "list_policies", real)
    [request] = store.requests(list(RequestState))
    assert reads[0] == 2 and "lost the policy's lease" in reply.all_text(), reply.all_text()
    assert request.state is RequestState.APPLYING and len(planetscale.calls("PATCH")) == 1
    sweep(approvals_bot)
    latest = store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPLIED, (
        f"{latest.state if latest else None}: {latest.detail if latest else ''}")
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    assert len(planetscale.calls("PATCH")) == 2


@pytest.mark.parametrize("moved_back", [False, True], ids=["held", "moved-back"])
def test_a_write_that_left_is_settled_not_sent_again_whatever_notes_follow_it(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch, moved_back: bool) -> None:
    """A change kept unsent once (its `sending` marked `unsent`), then sent by the sweep: PlanetScale carries out
    that PATCH and the sweep's instance ends before it records it. The sweep's nobody-left note (`waiting`, as its
    turn over pending requests writes it, read before the send) lands after it. The next sweep must settle the
    change by what PlanetScale holds, never send it again: the latest attempt's write may have left. Held: applied.
    Moved back in the dashboard to its value as asked (so that judged again it would be sent): not sent again."""
    approvals_bot.use_rules(ADMIN_DEV)
    now = [time.time()]
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    request_id = kept_unsent(approvals_bot, planetscale, now)
    real = changes.planetscale.update_policy

    def lands_then_stops(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise Died

    monkeypatch.setattr(changes.planetscale, "update_policy", lands_then_stops)
    now[0] += 600
    with pytest.raises(Died):
        sweep(approvals_bot)
    monkeypatch.setattr(changes.planetscale, "update_policy", real)
    request = store.get_request(request_id)
    assert request is not None and request.state is RequestState.APPLYING
    assert len(planetscale.calls("PATCH")) == 2 and planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    assert store.claim_notice_recorded(request.id, NOBODY_LEFT, request_event(
        "waiting", request, SYSTEM, detail="nobody left could give the 1 approval still needed"))
    if moved_back:
        planetscale.dashboard_change("acme", "app-db", DEV, retention_value=request.before["retention_value"])
    now[0] += 2 * changes.lease_seconds
    sweep(approvals_bot)
    assert len(planetscale.calls("PATCH")) == 2, "the change was sent again"
    latest = store.get_request(request_id)
    assert latest is not None, request_id
    if moved_back:
        assert latest.state is RequestState.FAILED and "does not hold the change" in (latest.detail or ""), (
            f"{latest.state}: {latest.detail}")
        assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == request.before["retention_value"]
        return
    assert latest.state is RequestState.APPLIED, f"{latest.state}: {latest.detail}"
    assert any("confirmed by reading the policy" in (e.detail or "") for e in store.events_of_request(request_id)
               if e.action == "applied")

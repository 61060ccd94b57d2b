"""A PATCH answered 504 by the gateway in front of PlanetScale (it stopped waiting; PlanetScale may still carry the
change out) is not told "not applied" on a read made at once: it keeps its policy, unconfirmed, until what
PlanetScale holds settles it, as a PATCH whose answer never came does. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot, sweep
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_patch_answered_504_that_lands_after_is_not_told_failed(approvals_bot: Bot,
                                                                  planetscale: PlanetScaleState) -> None:
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    planetscale.add_fault(Fault(status=504, method="PATCH"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1
    told = reply.all_text()
    assert "so it was not applied" not in told, told
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.APPLYING, request.detail  # unconfirmed: its policy kept to itself
    # PlanetScale carries the change out after its gateway answered.
    planetscale.dashboard_change("acme", "app-db", DEV, retention_value=9, retention_unit="day")
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    request = store.get_request(request.id)
    assert request is not None and request.state is RequestState.APPLIED, request
    assert len(planetscale.calls("PATCH")) == 1  # never sent again


def test_a_patch_answered_504_that_never_lands_is_failed_once_a_lease_has_passed(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    planetscale.add_fault(Fault(status=504, method="PATCH"))
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, request
    assert "does not hold the change" in (request.detail or "")
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 3
    assert len(planetscale.calls("PATCH")) == 1


def test_a_deletion_answered_504_that_lands_after_is_not_told_failed(approvals_bot: Bot,
                                                                     planetscale: PlanetScaleState) -> None:
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    planetscale.add_fault(Fault(status=504, method="DELETE"))
    reply = approvals_bot.command(f'delete acme/app-db {DEV} reason="unused"', user=ALICE)
    told = reply.all_text()
    assert "not applied" not in told.lower(), told
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.APPLYING, request.detail
    with planetscale.lock:  # PlanetScale carries the deletion out after its gateway answered
        del planetscale.policies[("acme", "app-db")][DEV]
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    request = store.get_request(request.id)
    assert request is not None and request.state is RequestState.APPLIED, request
    assert len(planetscale.calls("DELETE")) == 1

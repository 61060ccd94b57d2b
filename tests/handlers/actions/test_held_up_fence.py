"""Issue 19: a write whose fence judged it again as often as it may (JUDGED_AGAIN_AT_MOST), each read held up in
turn, was kept unsent for a passing reason (PlanetScale or the bot's database slow for a moment): it closes nothing.
An approved request goes back to approved for the sweep, which applies it once PlanetScale answers, its approvals
kept; it is never closed as failed with them lost. Through Bolt's pipeline and the emulators."""

from __future__ import annotations

import time
from typing import Any

import pytest
from approval_helpers import ALICE, CAROL, approvals_bot, ask, request_id, sweep, swept_later
from conftest import Bot
from test_read_across_pages import two_pages
from waits import Waits, sleeps

from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import JUDGED_AGAIN_AT_MOST
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "sleeps"]  # fixtures, used by name

WEEKLY = "bp02prodwk"  # production: a change needs carol's approval
DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_write_whose_lease_renewals_stall_each_time_goes_back_to_the_sweep_not_to_failed(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's no-approval retention=9d on a development policy: its PATCH is refused unread (429) and waits, so
    its fence reads the policy again; each time, renewing the lease before the write leaves stalls in the bot's
    database past a fresh read (half a minute), so it is read and judged again, until the fence gives up. Nothing
    was sent, for a passing reason: the change must stay for the sweep, not be closed as failed."""
    now = [time.time()]
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    changes.clock = store.clock = lambda: now[0]
    short = changes.lease_seconds - 2 * changes.planetscale.worst_case_seconds() + 1
    sleeps.during = lambda: now.__setitem__(0, now[0] + short)  # the PATCH's wait: the lease runs short
    real = store.renew

    def renew(claim: Any, lease_seconds: float, record: Any = None) -> Any:
        done = real(claim, lease_seconds, record=record)
        if record is None:
            now[0] += short  # the renewal stalls after its write: the lease short again, the read stale
        return done

    monkeypatch.setattr(store, "renew", renew)
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1  # the one answered 429
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] != 9, reply.all_text()
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.APPROVED, (
        f"a change kept unsent for a passing reason was closed {request.state.value}: {reply.all_text()}")
    monkeypatch.setattr(store, "renew", real)
    sleeps.during = None
    now[0] += 120
    sweep(approvals_bot)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    done = store.get_request(request.id)
    assert done is not None and done.state is RequestState.APPLIED


def test_an_approved_write_held_up_at_each_fresh_read_goes_back_to_the_sweep_not_to_failed(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    """alice asks retention=5w of the production weekly policy; carol approves. app-db's list takes two pages, and
    PlanetScale answers each listing's second page 429 first (Retry-After: 1): the read under the lease waited
    between its pages, so the fence judges the write again, and each of its reads waits so too, until it gives up
    sending. Nothing was sent and nothing was wrong with
    the change: it must stay approved for the sweep, which applies it once PlanetScale answers, not be closed as
    failed, carol's approval lost and alice told to ask again."""
    message = ask(approvals_bot, f'update acme/app-db {WEEKLY} retention=5w reason="audit"')
    waits = JUDGED_AGAIN_AT_MOST + 2  # the read under the lease, then each of the fence's
    two_pages(planetscale)
    for n in range(waits):  # each listing's second page answered 429 first, its retry answered
        planetscale.add_fault(Fault(status=429, method="GET", path_ends="/backup-policies", times=1,
                                    skip=1 if n == 0 else 2, retry_after="1"))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert sleeps == [1.0] * waits, sleeps
    assert not planetscale.calls("PATCH"), reply.all_text()
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPROVED, (
        f"an approved change kept unsent for a passing reason was closed {request.state.value}: {reply.all_text()}")
    assert "ask again" not in reply.all_text(), reply.all_text()
    swept_later(approvals_bot, 120)
    assert planetscale.policy("acme", "app-db", WEEKLY)["retention_value"] == 5
    done = approvals_bot.deps.store.get_request(request.id)
    assert done is not None and done.state is RequestState.APPLIED
    assert len(planetscale.calls("PATCH")) == 1

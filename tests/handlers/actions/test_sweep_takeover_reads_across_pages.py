"""Issue 19: a request the sweep takes over (left applying by a worker that stopped before it sent anything) is
judged again on the policy as read under the sweep's lease, as a click's or a command's is: a read of the
database's list whose later page waited (429, Retry-After) holds the policy as its first page showed it, before
that wait, and the write is judged again (or not sent) when the policy moved meanwhile. Through Bolt's pipeline
and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot, policy_busy, sweep
from conftest import Bot
from instance_ends import Died
from waits import Waits, sleeps

from bot.adapters.planetscale import PER_PAGE
from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import APPROVED_STALE_SECONDS
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot", "sleeps"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval (on the list's first page)


def left_applying(approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch,
                  now: list[float]) -> str:
    """alice's no-approval retention=9d on the development policy, asked while another change holds it (queued
    for the sweep); the sweep claims it and its instance ends as it reads the policy: left applying, nothing
    sent. Its ID."""
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    changes.clock = store.clock = lambda: now[0]
    with policy_busy(approvals_bot, DEV):
        reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.APPROVED, reply.all_text()
    real = changes.policies.list_policies

    def stops(*args: Any, **kwargs: Any) -> Any:
        raise Died

    monkeypatch.setattr(changes.policies, "list_policies", stops)
    now[0] += APPROVED_STALE_SECONDS + 1
    with pytest.raises(Died):
        sweep(approvals_bot)
    monkeypatch.setattr(changes.policies, "list_policies", real)
    latest = store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPLYING and not planetscale.calls("PATCH")
    return request.id


def test_a_request_taken_over_by_the_sweep_is_not_sent_on_a_first_page_read_before_the_second_page_waited(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep takes alice's change over once its worker's lease has passed. Read under the sweep's lease,
    app-db's list takes two pages; the second waits (429, Retry-After: 2), and meanwhile the policy is moved to
    production, where a change needs an approval. The first page showed it on development: sent on that, the
    PATCH reaches a production policy with nobody's approval."""
    for n in range(PER_PAGE):  # app-db's list is read in two pages
        planetscale.add_policy("acme", "app-db", f"bpmore{n:03d}", name=f"Archive {n}", target="development",
                               retention_value=1, retention_unit="day", frequency_value=1, frequency_unit="day")
    now = [time.time()]
    request_id = left_applying(approvals_bot, planetscale, monkeypatch, now)
    planetscale.add_fault(Fault(status=429, method="GET", path_ends="/backup-policies", times=1, skip=1,
                                retry_after="2"))
    sleeps.at[len(sleeps) + 1] = partial(planetscale.dashboard_change, "acme", "app-db", DEV, target="production")
    now[0] += 2 * approvals_bot.deps.changes.lease_seconds
    sweep(approvals_bot)
    assert sleeps[-1:] == [2.0], sleeps
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    latest = approvals_bot.deps.store.get_request(request_id)
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {latest}")
    assert latest is not None and latest.state is RequestState.FAILED, latest
    assert "moved from development to production" in (latest.detail or ""), latest.detail

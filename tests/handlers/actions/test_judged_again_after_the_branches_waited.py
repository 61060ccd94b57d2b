"""Issue 19: a policy read under the lease before a wait is judged again before a write leaves on it. Under a
storage bound, a change asked is judged on its database's branches, read beside the asking from before the lease
was taken: a Retry-After that read waits out after the policy was read is such a wait, told exactly by PlanetScale,
and the policy may move meanwhile. Through Bolt's pipeline and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot
from waits import Waits, sleeps

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot", "sleeps"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_change_is_not_sent_on_a_read_made_before_the_branches_read_beside_it_waited(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's retention=9d on the development policy needs no approval; a storage bound covers it, so the
    database's branches are read to judge it. The bot reads the policy under its lease; the branches' answer is a
    429 (Retry-After: 1), and while the bot waits it out the policy is moved to production, where a change needs
    an approval. Sent on the read made before that wait, the PATCH changes a production policy with nobody's
    approval."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("development", "1TB"))
    deps = approvals_bot.deps
    read = threading.Event()
    planetscale.add_fault(Fault(status=429, method="GET", path_ends="/branches", retry_after="1", until=read))
    sleeps.at[1] = partial(planetscale.dashboard_change, "acme", "app-db", DEV, target="production")
    real = deps.changes.policies.list_policies

    def read_under_the_lease(*args: Any, **kwargs: Any) -> Any:
        listed = real(*args, **kwargs)
        read.set()  # the branches are answered only after the policy's read
        return listed

    monkeypatch.setattr(deps.changes.policies, "list_policies", read_under_the_lease)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert sleeps[:1] == [1.0], sleeps
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    [request] = deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, f"{request.state}: {request.detail}"
    assert "moved from development to production" in (request.detail or ""), request.detail

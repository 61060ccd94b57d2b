"""A change is read once, under its policy's lease, taken before the read: a move made in PlanetScale's
dashboard after the command and before the lease is on that read, so the change is judged on the moved policy.
Driven through Bolt's pipeline with the emulators; the store's claim is wrapped only to make the move at that
moment."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # "Development daily": a change applies at once, with no approval
DB_OPS = "C0DBAOPS01"  # where a production change may be asked, with one approval


def moved_to_production_as_the_lease_is_taken(bot: Bot, planetscale: PlanetScaleState,
                                              monkeypatch: pytest.MonkeyPatch, key_ends: str) -> list[str]:
    """Someone moves the policy to production in the dashboard just before the bot takes the lease whose key
    ends with `key_ends`; the keys of the leases taken are returned as they are taken."""
    store = bot.deps.store
    real = store.claim_for_applying
    keys: list[str] = []

    def claim(request: Any, from_states: Any, lease_seconds: float) -> Any:
        keys.append(request.policy_key)
        if request.policy_key.endswith(key_ends) and planetscale.policy("acme", "app-db", DEV)["target"] != \
                "production":
            planetscale.dashboard_change("acme", "app-db", DEV, target="production")
        return real(request, from_states, lease_seconds)

    monkeypatch.setattr(store, "claim_for_applying", claim)
    return keys


def policy_reads(planetscale: PlanetScaleState) -> int:
    return len([c for c in planetscale.calls("GET") if c.path.endswith("/backup-policies")])


def test_a_move_made_in_planetscale_before_the_lease_is_judged_on(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice asks retention=9d on a development policy (no approval there). Between her command and the lease,
    the policy is moved to production, where a change needs one approval: the one read, under the lease, sees
    production, so the change waits for an approval and nothing is sent."""
    moved_to_production_as_the_lease_is_taken(approvals_bot, planetscale, monkeypatch, DEV)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE, channel=DB_OPS)
    assert not planetscale.calls("PATCH"), reply.all_text()
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.PENDING and request.approvals_needed == 1
    assert request.before["target"] == "production"  # judged on the policy as moved
    assert policy_reads(planetscale) == 1


def test_a_change_asked_by_name_is_judged_on_a_read_under_that_policys_own_lease(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked by name, the policy's ID is not known before a read: the lease first taken (on the name) is not the
    policy's, so the policy is read again under its own lease, and a move made before that lease is seen."""
    keys = moved_to_production_as_the_lease_is_taken(approvals_bot, planetscale, monkeypatch, f"/{DEV}")
    approvals_bot.command('update acme/app-db "Development daily" retention=9d', user=ALICE, channel=DB_OPS)
    assert keys == ["acme/app-db/Development daily", f"acme/app-db/{DEV}"]
    assert not planetscale.calls("PATCH")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.PENDING and request.before["target"] == "production"


def test_a_change_asked_by_name_with_no_move_is_applied(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = approvals_bot.command('update acme/app-db "Development daily" retention=9d', user=ALICE)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9, reply.all_text()
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED

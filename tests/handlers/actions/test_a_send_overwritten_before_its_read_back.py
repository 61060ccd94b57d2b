"""A PATCH PlanetScale carried out whose answer was lost, and a change made in PlanetScale's dashboard before the
bot reads the policy back: the policy no longer holds the change, yet it was applied. The bot never records it
as not applied, and says it cannot tell. Driven through Bolt's pipeline with the emulators."""

from __future__ import annotations

from typing import Any

from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_send_that_landed_and_was_changed_again_before_its_read_back_is_never_recorded_as_not_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=503, method="PATCH", landed=True))
    policies = approvals_bot.deps.changes.policies
    real_list = policies.list_policies

    def changed_in_the_dashboard_after_the_patch(*args: Any, **kwargs: Any) -> Any:
        if planetscale.calls("PATCH") and planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9:
            planetscale.dashboard_change("acme", "app-db", DEV, retention_value=30, retention_unit="day")
        return real_list(*args, **kwargs)

    policies.list_policies = changed_in_the_dashboard_after_the_patch  # type: ignore[method-assign]
    try:
        reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    finally:
        policies.list_policies = real_list  # type: ignore[method-assign]
    assert len(planetscale.calls("PATCH")) == 1, "a PATCH PlanetScale carried out was sent again"
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    said = [reply.all_text(), request.detail or "",
            *[e.detail or "" for e in approvals_bot.audit.all() if e.request_id == request.id]]
    assert not any("so it was not applied" in text for text in said), \
        f"PlanetScale carried the change out, and the bot records it as not applied: {said}"
    assert "cannot tell whether it was applied" in reply.all_text()

"""Two clicks at once on a deletion's (or a creation's) Revert, on two instances, ask one revert: the click whose
read of the policies began before the other's revert was applied is told it was reverted already, as a later
click is, and asks nothing (on one instance two clicks take turns). Through Bolt's pipeline; two instances share
a database only on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from approval_helpers import ALICE, BOB, approvals_bot, second_instance
from conftest import SIGNING_SECRET, Bot, signed_headers
from slack_bolt.request import BoltRequest

from bot.domain.change_requests import ChangeKind, RequestState
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import REVERT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"  # "Development daily": development, changed at once under the rules


def reverts_of(bot: Bot, request_id: str) -> list[Any]:
    return [r for r in bot.deps.store.requests(list(RequestState), limit=None) if r.revert_of == request_id]


def click_while_held(bot: Bot, other: Bot, request_id: str) -> list[str]:
    """ALICE's click on `bot` reads the policies, then waits until BOB's click on the same button, on `other`, has
    reverted the change; what ALICE is told."""
    changes = bot.deps.changes
    real_list, real_revert = changes.policies.list_policies, other.deps.changes.revert
    held, other_done = threading.Event(), threading.Event()
    armed = [True]

    def list_policies(*args: Any, **kwargs: Any) -> Any:
        listed = real_list(*args, **kwargs)
        if armed[0]:
            armed[0] = False
            held.set()
            assert other_done.wait(30), "the other click did not finish"
        return listed

    def revert(request: str, user: str, channel: str) -> Any:
        try:
            return real_revert(request, user, channel)
        finally:
            if user == BOB:
                other_done.set()

    changes.policies.list_policies = list_policies  # type: ignore[method-assign]
    other.deps.changes.revert = revert  # type: ignore[method-assign]
    _, cursor = bot.slack.events_since(0)
    try:
        first = bot.click_body(REVERT, request_id, user=ALICE)
        bot.app.dispatch(BoltRequest(body=first, headers=signed_headers(SIGNING_SECRET, first)))
        assert held.wait(30), "the first click did not read the policies"
        other.click(REVERT, request_id, user=BOB)
        assert bot.executor.wait_idle(60)
    finally:
        changes.policies.list_policies = real_list  # type: ignore[method-assign]
        other.deps.changes.revert = real_revert  # type: ignore[method-assign]
    events, _ = bot.slack.events_since(cursor)
    return [e.text for e in events if e.kind == "response" and e.text and "already reverted" in e.text]


@pytest.mark.parametrize(("asked", "kind", "inverse"), [
    (f"delete acme/app-db {DEV}", ChangeKind.DELETE, "POST"),
    ('create acme/app-db name="Scratch" target=development retention=7d frequency=1d at=03:00', ChangeKind.CREATE,
     "DELETE"),
], ids=["deletion-made-again-once", "creation-deleted-once"])
def test_a_lifecycle_change_reverted_by_two_clicks_at_once_is_reverted_once(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState, asked: str, kind: ChangeKind,
    inverse: str
) -> None:
    approvals_bot.command(asked, user=ALICE)
    [original] = [r.id for r in approvals_bot.deps.store.requests([RequestState.APPLIED], limit=None)
                  if r.kind is kind]
    told = click_while_held(approvals_bot, second_instance, original)
    [revert] = reverts_of(approvals_bot, original)
    assert revert.state is RequestState.APPLIED and revert.requester == BOB
    assert len(planetscale.calls(inverse)) == 1
    assert len(told) == 1 and revert.id[:8] in told[0], told

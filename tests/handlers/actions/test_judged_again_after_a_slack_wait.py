"""Issue 19: a policy read under the lease before a wait is judged again before a write leaves on it. Slack's
Retry-After on a look-up of the user groups (listed again once their cache is stale) is such a wait, told exactly
by Slack, as PlanetScale's are: the policy may move meanwhile. Through Bolt's pipeline and the emulators, on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.adapters.slack_directory import slack_groups
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_change_is_not_sent_on_a_read_made_before_slack_asked_the_bot_to_wait(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's retention=9d on the development policy needs no approval. Just after the bot reads it under its
    lease, it is moved to production in PlanetScale, where a change needs an approval; the bot's user groups are
    due to be listed again, and Slack answers that listing 429 (Retry-After: 1). The bot waits as told, then
    sends the PATCH on the read made before that wait: a production policy changed with nobody's approval."""
    groups_now = [0.0]  # the directory as the bot makes it, on a clock the test moves
    deps = approvals_bot.deps
    deps.access.groups = slack_groups(approvals_bot.app.client, clock=lambda: groups_now[0])
    real = deps.changes.policies.list_policies
    reads = [0]
    wait = MethodFault("usergroups.list", status=429, retry_after=1)

    def read_then_moved(*args: Any, **kwargs: Any) -> Any:
        listed = real(*args, **kwargs)
        reads[0] += 1
        if reads[0] == 1:  # the read under the lease
            planetscale.dashboard_change("acme", "app-db", DEV, target="production")
            groups_now[0] += 61  # past the groups' cache: listed again, and Slack asks for a second's wait
            approvals_bot.slack.add_fault(wait)
        return listed

    monkeypatch.setattr(deps.changes.policies, "list_policies", read_then_moved)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert reads[0] >= 1 and wait.times == 0, "Slack's wait did not happen"
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    [request] = deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, f"{request.state}: {request.detail}"
    assert "moved from development to production" in (request.detail or ""), request.detail

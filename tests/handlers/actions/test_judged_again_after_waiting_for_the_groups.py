"""Issue 19: a policy read under the lease before a wait is judged again before a write leaves on it. A look-up
of the user groups that finds another thread listing them waits for that listing, Slack's Retry-After included:
a wait like its own, and the policy may move meanwhile. Through Bolt's pipeline and the emulators, on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from approval_helpers import ALICE, CAROL, approvals_bot
from conftest import Bot

from bot.adapters.slack_directory import slack_groups
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_change_is_not_sent_on_a_read_made_before_it_waited_for_another_listing_of_the_groups(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's retention=9d on the development policy needs no approval. Just after the bot reads it under its
    lease, the user groups are due to be listed again, and carol's `list` lists them first: Slack answers 429
    (Retry-After: 1), and meanwhile the policy is moved to production, where a change needs an approval. alice's
    judging waits for carol's listing, then sends the PATCH on the read made before that wait: a production policy
    changed with nobody's approval."""
    groups_now = [0.0]  # the directory as the bot makes it, on a clock the test moves
    deps, client = approvals_bot.deps, approvals_bot.app.client
    directory = deps.access.groups = slack_groups(client, clock=lambda: groups_now[0])
    listing, looking, others, alices = threading.Event(), threading.Event(), [], []
    real_list, real_groups, real_members = deps.changes.policies.list_policies, client.usergroups_list, \
        directory.members

    def listed_by_carol(*args: Any, **kwargs: Any) -> Any:
        if others and threading.current_thread() not in alices and not listing.is_set():
            listing.set()  # carol's listing holds the directory from here
            planetscale.dashboard_change("acme", "app-db", DEV, target="production")
            assert looking.wait(10), "alice's judging never looked the groups up"
        return real_groups(*args, **kwargs)

    def members(principal: str) -> Any:
        if threading.current_thread() in alices:
            looking.set()  # alice's judging looks the groups up: it waits for carol's listing
        return real_members(principal)

    def read_then_listed(*args: Any, **kwargs: Any) -> Any:
        listed = real_list(*args, **kwargs)
        if not others:  # alice's read under the lease: carol's `list` starts listing the groups again
            alices.append(threading.current_thread())
            groups_now[0] += 61
            approvals_bot.slack.add_fault(MethodFault("usergroups.list", status=429, retry_after=1))
            others.append(threading.Thread(target=approvals_bot.command, args=("list acme/app-db",),
                                           kwargs={"user": CAROL}))
            others[0].start()
            assert listing.wait(10), "carol's listing of the groups did not start"
        return listed

    monkeypatch.setattr(client, "usergroups_list", listed_by_carol)
    monkeypatch.setattr(directory, "members", members)
    monkeypatch.setattr(deps.changes.policies, "list_policies", read_then_listed)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    others[0].join(30)
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls("PATCH"), (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    [request] = deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, f"{request.state}: {request.detail}"
    assert "moved from development to production" in (request.detail or ""), request.detail

"""Issue 19, "a request nobody but its requester could approve is posted and left to expire": a pending request
whose every possible approver has since left the asked groups is said once, in its thread and to its requester,
and recorded; it stays pending, in case the group is refilled. Driven through Bolt's pipeline with the emulators
(SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from approval_helpers import (
    ALICE,
    CAROL,
    LEADS,
    PROD,
    approvals_bot,
    ask,
    direct_messages,
    request_id,
    second_instance,
    swept_later,
    thread_of,
)
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.group_directory import DirectoryError
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackEvent
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

NOTE = "Nobody left can approve this request"


def _leads_are(bot: Bot, members: list[str]) -> None:
    """@dba-leads now has `members`, as the front's next listing of the groups reads it."""
    bot.slack.usergroups["S0DBALEAD1"]["users"] = list(members)
    groups = bot.deps.access.groups
    ahead = time.monotonic() + 3600 * (1 + getattr(groups, "_ahead", 0))
    groups._ahead = getattr(groups, "_ahead", 0) + 1  # type: ignore[attr-defined]
    groups._clock = lambda: ahead  # type: ignore[attr-defined]
    groups.refresh()


def _notes(bot: Bot, message: SlackEvent) -> list[str]:
    return [t for t in thread_of(bot, message) if NOTE in t]


def _recorded(bot: Bot, rid: str) -> list[str]:
    return [e.detail or "" for e in bot.audit.all() if e.request_id == rid and "nobody left" in (e.detail or "")]


@pytest.fixture
def asked(approvals_bot: Bot) -> Iterator[SlackEvent]:
    yield ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")


def test_a_request_whose_approvers_all_left_is_said_once_and_stays_pending_until_refilled(
        approvals_bot: Bot, asked: SlackEvent, planetscale: PlanetScaleState) -> None:
    """alice asks a production change (one approval from @dba-leads); then everyone leaves @dba-leads. The sweep,
    on the request's turn, says so once in its thread and to alice, naming the group and what to do, and records
    it; later sweeps say nothing more. The request stays pending: once carol is back, her approval applies it."""
    rid = request_id(asked)
    _leads_are(approvals_bot, [])
    swept_later(approvals_bot, 700)
    [note] = _notes(approvals_bot, asked)
    assert "S0DBALEAD1" in note and "cancel" in note, note
    [dm] = [t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]
    assert "S0DBALEAD1" in dm, dm
    assert len(_recorded(approvals_bot, rid)) == 1, _recorded(approvals_bot, rid)
    swept_later(approvals_bot, 1400)
    swept_later(approvals_bot, 2100)
    assert len(_notes(approvals_bot, asked)) == 1
    assert len([t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]) == 1
    assert len(_recorded(approvals_bot, rid)) == 1
    request = approvals_bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.PENDING
    _leads_are(approvals_bot, LEADS)
    approvals_bot.click(APPROVE, rid, user=CAROL, message=asked)
    done = approvals_bot.deps.store.get_request(rid)
    assert done is not None and done.state is RequestState.APPLIED
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5


def test_approvers_that_could_not_be_looked_up_are_not_nobody(approvals_bot: Bot, asked: SlackEvent) -> None:
    """While Slack cannot list the groups, who could approve is not known: the sweep says nothing."""
    groups = approvals_bot.deps.access.groups

    def failing(principal: str) -> frozenset[str]:
        raise DirectoryError("usergroups.list: ratelimited")

    groups.members = failing  # type: ignore[method-assign]
    swept_later(approvals_bot, 700)
    assert _notes(approvals_bot, asked) == []
    assert _recorded(approvals_bot, request_id(asked)) == []


def test_someone_left_to_approve_is_not_nobody(approvals_bot: Bot, asked: SlackEvent) -> None:
    """Carol alone is left in @dba-leads: she can approve, so nothing is said."""
    _leads_are(approvals_bot, [CAROL])
    swept_later(approvals_bot, 700)
    assert _notes(approvals_bot, asked) == []


def test_two_instances_say_it_once(approvals_bot: Bot, second_instance: Bot, asked: SlackEvent) -> None:
    """Each instance's sweep, on a turn of its own, finds nobody left: the note is said and recorded once."""
    _leads_are(approvals_bot, [])
    _leads_are(second_instance, [])
    swept_later(approvals_bot, 700)
    swept_later(second_instance, 1400)
    assert len(_notes(approvals_bot, asked)) == 1
    assert len(_recorded(approvals_bot, request_id(asked))) == 1


def test_a_nobody_left_note_slack_failed_to_take_is_said_at_a_later_sweep(approvals_bot: Bot,
                                                                           asked: SlackEvent) -> None:
    """Everyone leaves @dba-leads; the sweep that finds it claims the note (recorded once) and posts it in the
    thread and to alice, but Slack answers both posts with a passing failure (internal_error). The claims of the
    thread note and the DM are given back to be tried again, yet nothing says it again: the next sweeps find the
    note's own claim taken and say nothing, and alice never hears that her request can only expire."""
    _leads_are(approvals_bot, [])
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", times=2))
    swept_later(approvals_bot, 700)
    assert _notes(approvals_bot, asked) == []  # Slack took neither
    swept_later(approvals_bot, 1400)
    swept_later(approvals_bot, 2100)
    assert len(_notes(approvals_bot, asked)) == 1, "the thread never told nobody left can approve"
    assert len([t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]) == 1, \
        "alice never told nobody left can approve her request"


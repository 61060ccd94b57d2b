"""A request approved in its life (it had every approval its rules asked), queued behind another change to the
policy, and judged again only after its life ended (the user groups could not be read then) expires unapplied:
its message, thread, requester and audit entry say it had its approvals, never that it expired before enough of
them. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    approvals_bot,
    ask,
    direct_messages,
    latest_view,
    policy_busy,
    request_id,
    swept_later,
    thread_of,
)
from conftest import Bot

from bot.adapters.slack_directory import slack_groups
from bot.domain.change_requests import RequestState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DAY = 86400


def test_a_request_approved_in_time_and_queued_past_its_life_is_not_told_it_lacked_approvals(
        approvals_bot: Bot) -> None:
    bot = approvals_bot
    groups_clock = [0.0]
    bot.deps.access.groups = slack_groups(bot.app.client, clock=lambda: groups_clock[0])
    message = ask(bot)
    rid = request_id(message)
    with policy_busy(bot, PROD):  # another change holds the policy: carol's approval queues alice's behind it
        bot.click(APPROVE, rid, user=CAROL, message=message)
    queued = bot.deps.store.get_request(rid)
    assert queued is not None and queued.state is RequestState.APPROVED
    groups_clock[0] += 2 * DAY  # when the sweep comes round, two days on, Slack will not list the groups
    bot.slack.add_fault(MethodFault("usergroups.list", error="ratelimited", times=None))
    swept_later(bot, 2 * DAY)
    swept_later(bot, 2 * DAY + 60)
    ended = bot.deps.store.get_request(rid)
    assert ended is not None and ended.state is RequestState.EXPIRED
    [told] = direct_messages(bot, ALICE)
    thread = thread_of(bot, message)
    [entry] = [e for e in bot.audit.all() if e.request_id == rid and e.action == "expired"]
    said = [told, thread[-1], latest_view(bot, message), entry.detail or ""]
    for words in said:
        assert "before enough approvals" not in words and "without enough approvals" not in words, words
    for words in (told, thread[-1], entry.detail or ""):
        assert "had its approvals" in words, words
    assert "ask again" in told

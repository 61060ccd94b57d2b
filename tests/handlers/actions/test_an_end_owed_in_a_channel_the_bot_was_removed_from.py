"""The bot removed from a request's channel while the request waits there (`not_in_channel` on every post, update
and history read there): its end is tried again by the sweep for a day after it closed, so an admin who invites
the bot back sees it told; past that day it is given up, rather than asked of Slack (three calls and three log
lines a request) every pass for ever. Its requester is told in a DM either way. Through Bolt's pipeline, on
SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, RULES, approvals_bot, ask, direct_messages, request_id, swept_later, thread_of
from conftest import CHANNEL, Bot

from bot.domain.change_requests import RequestState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # a fixture, used by name

DAY = 86400
CLOSED_TO_IT = ("chat.postMessage", "chat.update", "conversations.history", "conversations.replies")


def removed_from_the_channel(bot: Bot) -> list[MethodFault]:
    faults = [MethodFault(method, error="not_in_channel", channel=CHANNEL, times=None) for method in CLOSED_TO_IT]
    for fault in faults:
        bot.slack.add_fault(fault)
    return faults


def calls_to_the_channel(bot: Bot, since: int) -> list[str]:
    return [method for method, args in bot.slack.calls[since:] if args.get("channel") == CHANNEL]


def test_an_end_the_channel_refuses_for_a_day_is_given_up(approvals_bot: Bot) -> None:
    bot = approvals_bot
    message = ask(bot)
    rid = request_id(message)
    removed_from_the_channel(bot)
    swept_later(bot, 2 * DAY)  # expired, and its end refused in its channel
    ended = bot.deps.store.get_request(rid)
    assert ended is not None and ended.state is RequestState.EXPIRED
    assert not ended.told
    before = len(bot.slack.calls)
    swept_later(bot, 2 * DAY + 3600)  # within the day: tried again
    assert calls_to_the_channel(bot, before), "its end is given up at once"
    swept_later(bot, 3 * DAY + 3600)  # a day after it closed: given up
    before = len(bot.slack.calls)
    for n in range(3):
        swept_later(bot, 3 * DAY + 7200 + 60 * n)
    assert calls_to_the_channel(bot, before) == [], "the sweep asks Slack for it every pass for ever"
    told = bot.deps.store.get_request(rid)
    assert told is not None and told.told
    assert len([t for t in direct_messages(bot, ALICE) if "expired" in t.lower()]) == 1


def test_an_end_told_once_the_bot_is_back_in_the_channel_within_the_day(approvals_bot: Bot) -> None:
    bot = approvals_bot
    message = ask(bot)
    rid = request_id(message)
    faults = removed_from_the_channel(bot)
    swept_later(bot, 2 * DAY)
    for fault in faults:  # an admin invites the bot back
        fault.times = 0
    swept_later(bot, 2 * DAY + 6 * 3600)
    told = bot.deps.store.get_request(rid)
    assert told is not None and told.told
    assert any("expired" in text.lower() for text in thread_of(bot, message)), thread_of(bot, message)


def test_a_reminder_the_channel_refuses_is_not_asked_every_pass_until_expiry(approvals_bot: Bot) -> None:
    bot = approvals_bot
    bot.use_rules(RULES.format(approvals=1).replace('expire_after = "24h"', 'expire_after = "30d"'))
    message = ask(bot)
    rid = request_id(message)
    removed_from_the_channel(bot)
    swept_later(bot, 15 * DAY + 60)  # past half its life: its reminder refused in its channel
    before = len(bot.slack.calls)
    for n in range(3):
        swept_later(bot, 15 * DAY + 120 + 60 * n)
    assert calls_to_the_channel(bot, before) == [], "its reminder is asked of Slack every pass until it expires"
    pending = bot.deps.store.get_request(rid)
    assert pending is not None and pending.state is RequestState.PENDING

"""A one-off direct message (the answer to a click on the Home that Slack will not show there) answered 5xx by
Slack: chat.postMessage is not sent again blindly on a 5xx (Slack may have made it, a proxy's page after), so the
bot looks in the direct message first, by the metadata it was posted with, and posts it again only when Slack did
not make it. The person is told once, whichever it was."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot, ask, direct_messages, request_id
from conftest import Bot
from home_helpers import click_on_home, open_home

from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def refused_on_a_home_slack_will_not_show(bot: Bot, post_fault: MethodFault) -> list[str]:
    message = ask(bot)
    open_home(bot, ALICE)
    bot.slack.add_fault(MethodFault("views.publish", body={"ok": False, "error": "internal_error"}, times=None))
    bot.slack.add_fault(post_fault)
    click_on_home(bot, ALICE, APPROVE, request_id(message))  # her own request: refused
    assert bot.deps.store.approvers_of(request_id(message)) == []
    return [text for text in direct_messages(bot, ALICE) if "own" in text]


def test_a_direct_message_answered_503_unmade_is_posted_again(approvals_bot: Bot) -> None:
    told = refused_on_a_home_slack_will_not_show(
        approvals_bot, MethodFault("chat.postMessage", status=503, times=1, channel=ALICE))
    assert len(told) == 1, told


def test_a_direct_message_answered_502_after_slack_made_it_is_not_posted_twice(approvals_bot: Bot) -> None:
    told = refused_on_a_home_slack_will_not_show(
        approvals_bot, MethodFault("chat.postMessage", garbled=b"<html>Bad gateway</html>", garbled_status=502,
                                   times=1, channel=ALICE))
    assert len(told) == 1, told


def test_a_direct_message_answered_internal_error_unmade_is_posted_again(approvals_bot: Bot) -> None:
    told = refused_on_a_home_slack_will_not_show(
        approvals_bot, MethodFault("chat.postMessage", body={"ok": False, "error": "internal_error"}, times=1,
                                   channel=ALICE))
    assert len(told) == 1, told

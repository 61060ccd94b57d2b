"""A click on the App Home is answered on the Home; where Slack will not publish it (views.publish failing at every
try), the answer reaches the clicker in the bot's direct message instead: a refusal said nowhere leaves them
thinking it was done."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot, ask, direct_messages, request_id
from conftest import Bot
from home_helpers import click_on_home, open_home

from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_an_approval_refused_on_the_home_that_slack_will_not_show_is_told_in_a_direct_message(
        approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    open_home(approvals_bot, ALICE)
    approvals_bot.slack.add_fault(MethodFault("views.publish", body={"ok": False, "error": "internal_error"},
                                              times=None))
    click_on_home(approvals_bot, ALICE, APPROVE, request_id(message))  # her own request: refused
    told = direct_messages(approvals_bot, ALICE)
    assert any("own" in text for text in told), told
    assert approvals_bot.deps.store.approvers_of(request_id(message)) == []


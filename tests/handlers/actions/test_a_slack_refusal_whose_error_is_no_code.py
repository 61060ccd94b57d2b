"""Slack (or a proxy in front of it) refuses a call with an `error` that is no code (`{"ok": false, "error":
{...}}`, a list, a number): the bot reads it as an answer it cannot read, as any answer of the wrong shape. Before,
the code reached the bot's checks (a set of Slack's codes) and raised TypeError: a traceback on the click and one
on every sweep, for ever, for the request whose message Slack answered so. Through Bolt's pipeline, on SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from approval_helpers import ALICE, CAROL, approvals_bot, ask, direct_messages, request_id, swept_later
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


@pytest.mark.parametrize("error", [{"code": "internal_error"}, ["not_in_channel"], 7])
@pytest.mark.parametrize("method", ["chat.update", "chat.postMessage"])
def test_a_refusal_whose_error_is_no_code_raises_nothing(approvals_bot: Bot, caplog: pytest.LogCaptureFixture,
                                                         method: str, error: Any) -> None:
    bot = approvals_bot
    message = ask(bot)
    rid = request_id(message)
    fault = MethodFault(method, body={"ok": False, "error": error}, times=None)
    bot.slack.add_fault(fault)
    with caplog.at_level(logging.INFO):
        said = bot.click(APPROVE, rid, user=CAROL, message=message).all_text()
        for n in range(3):
            swept_later(bot, 60 * (n + 1))
    applied = bot.deps.store.get_request(rid)
    assert applied is not None and applied.state is RequestState.APPLIED
    assert "went wrong" not in said.lower(), said
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert tracebacks == [], tracebacks
    fault.times = 0  # Slack answers as it should again: the end owed is told
    swept_later(bot, 600)
    told = bot.deps.store.get_request(rid)
    assert told is not None and told.told
    assert len([t for t in direct_messages(bot, ALICE) if "applied" in t]) == 1

"""The watch on the approvals bot, with the audit channel set: the fixture the watch suites share."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import ANSWER_LOST_TIMEOUT, Bot

from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher, build_watcher
from handlers.watch import SKIPPED_HEADLINE

AUDIT = "C0DBAOPS01"


@pytest.fixture
def watched(approvals_bot: Bot) -> Iterator[tuple[Bot, Watcher]]:
    approvals_bot.deps.audit_channel = AUDIT
    watcher = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=1)
    yield approvals_bot, watcher
    watcher.stop()


def a_pass_whose_post_slack_answers_late(bot: Bot, watcher: Watcher, posted: Callable[[], bool]) -> None:
    """One pass whose first chat.postMessage Slack takes but answers only after the bot's client stopped waiting;
    returns once Slack shows what `posted` looks for."""
    pool = bot.app.client.http.client  # type: ignore[attr-defined]
    usual = pool.timeout
    pool.timeout = ANSWER_LOST_TIMEOUT
    answered = threading.Event()  # Slack answers once the bot has stopped waiting, however slow the machine
    bot.slack.add_fault(MethodFault("chat.postMessage", until=answered, times=1))
    try:
        watcher.run_once()
    finally:
        pool.timeout = usual
        answered.set()
    deadline = time.monotonic() + 60
    while not posted():  # Slack posts it, though the bot stopped waiting for its answer
        assert time.monotonic() < deadline
        time.sleep(0.05)


def watch_pass(bot: Bot, watcher: Watcher) -> list[str]:
    """One pass; the headlines of the messages it posted."""
    _, cursor = bot.slack.events_since(0)
    watcher.run_once()
    events, _ = bot.slack.events_since(cursor)
    return [e.text for e in events if e.kind == "message"]


def skipped_said(bot: Bot) -> str:
    """The blocks of every message telling what the watch skipped, as one text to search."""
    return json.dumps([e.blocks for e in bot.slack.events if e.text == SKIPPED_HEADLINE], ensure_ascii=False)

"""A reply in a request's thread and an outcome in the requester's DM whose post Slack took but answered after
the client stopped waiting: the bot gives its claim back and tries again, looking first in the thread
(conversations.replies) or the DM (conversations.open, then its history), so neither is posted twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from approval_helpers import ALICE, CAROL, approvals_bot, ask, direct_messages, request_id, sweep, thread_of
from conftest import ANSWER_LOST_TIMEOUT, Bot

from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


def answered_late(bot: Bot, notice: str) -> Callable[[], None]:
    """From the claim of `notice` on, Slack answers the next chat.postMessage after the client's timeout (it
    still posts it): once the undoing, returned, is called, however slow the machine."""
    store = bot.deps.store
    answered = threading.Event()
    real_claims = store.claim_notices
    pool = bot.app.client.http.client  # type: ignore[attr-defined]
    usual = pool.timeout

    def claims(request: str, wanted: Sequence[str]) -> list[str]:
        won = real_claims(request, wanted)
        if notice in won and not bot.slack.faults:
            pool.timeout = ANSWER_LOST_TIMEOUT
            bot.slack.add_fault(MethodFault("chat.postMessage", until=answered, times=1))
        return won

    store.claim_notices = claims  # type: ignore[method-assign]

    def undo() -> None:
        store.claim_notices = real_claims  # type: ignore[method-assign]
        pool.timeout = usual
        answered.set()
    return undo


def eventually(found: Callable[[], int]) -> None:
    deadline = time.monotonic() + 60
    while not found():  # Slack posts it, though the bot stopped waiting for its answer
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("where", ["thread", "dm"])
def test_a_notice_whose_answer_is_lost_is_not_posted_twice(approvals_bot: Bot, where: str) -> None:
    message = ask(approvals_bot)
    undo = answered_late(approvals_bot, "applied" if where == "thread" else "dm:applied")
    try:
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    finally:
        undo()

    def told() -> int:
        if where == "thread":
            return sum(":white_check_mark: Applied" in text for text in thread_of(approvals_bot, message))
        return sum("was applied" in text for text in direct_messages(approvals_bot, ALICE))

    eventually(told)
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert told() == 1, f"told {told()} times in the {where}"
    looked = "conversations.replies" if where == "thread" else "conversations.history"
    assert approvals_bot.slack.method_calls(looked), "the second try did not look before posting"


def test_a_dm_notice_is_found_past_the_first_pages_of_messages_posted_since_its_first_try(
        approvals_bot: Bot) -> None:
    """The look reads the DM since the notice was first tried (when it was claimed), all of it: a requester told
    of many requests since then still is not told this one twice."""
    from bot.emulators.slack import SlackEvent

    message = ask(approvals_bot)
    undo = answered_late(approvals_bot, "dm:applied")
    try:
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    finally:
        undo()

    def told() -> int:
        return sum("was applied" in text for text in direct_messages(approvals_bot, ALICE))

    eventually(told)
    state = approvals_bot.slack
    dm = state.dm_channel(ALICE)
    with state.lock:  # other notices to Alice since: more than five pages of conversations.history
        for n in range(1100):
            state.events.append(SlackEvent("message", channel=dm, text=f"other notice {n}", user=ALICE,
                                           ts=state.next_ts()))
    sweep(approvals_bot)
    assert told() == 1, f"told {told()} times in the DM"

"""A reply in a request's thread and an outcome in the requester's DM whose post Slack took but answered after
the client stopped waiting: the bot gives its claim back and tries again, looking first in the thread
(conversations.replies) or the DM (conversations.open, then its history), so neither is posted twice."""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest
from approval_helpers import ALICE, CAROL, approvals_bot, ask, direct_messages, request_id, sweep, thread_of
from conftest import Bot, answer_lost

from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


def lost(bot: Bot, where: str) -> AbstractContextManager[MethodFault]:
    """Slack takes the notice's post (the reply in the request's thread, or the DM to alice) but answers it only
    once the bot has stopped waiting."""
    return answer_lost(bot, "chat.postMessage", **({"in_thread": True} if where == "thread" else {"channel": ALICE}))


@pytest.mark.parametrize("where", ["thread", "dm"])
def test_a_notice_whose_answer_is_lost_is_not_posted_twice(approvals_bot: Bot, where: str) -> None:
    message = ask(approvals_bot)
    with lost(approvals_bot, where):
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)

    def told() -> int:
        if where == "thread":
            return sum(":white_check_mark: Applied" in text for text in thread_of(approvals_bot, message))
        return sum("was applied" in text for text in direct_messages(approvals_bot, ALICE))

    assert told() == 1, f"told {told()} times once Slack answered"
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
    with lost(approvals_bot, "dm"):
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)

    def told() -> int:
        return sum("was applied" in text for text in direct_messages(approvals_bot, ALICE))

    assert told() == 1, f"told {told()} times once Slack answered"
    state = approvals_bot.slack
    dm = state.dm_channel(ALICE)
    with state.lock:  # other notices to Alice since: more than five pages of conversations.history
        for n in range(1100):
            state.events.append(SlackEvent("message", channel=dm, text=f"other notice {n}", user=ALICE,
                                           ts=state.next_ts()))
    sweep(approvals_bot)
    assert told() == 1, f"told {told()} times in the DM"

"""A request asked for approval whose post's answer was lost, found in its channel by the sweep while Slack rate
limits the update that would show it as it stands: where its message is is kept all the same, so that its
thread, its later updates and its end find it, rather than a message the bot never finds again. Through Bolt's
pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot, sweep, swept_later
from conftest import CHANNEL, Bot, answer_lost
from processes import wait_until

from bot.domain.change_requests import RequestState
from bot.emulators.slack import MethodFault, SlackEvent
from handlers.blocks.buttons import CANCEL

__all__ = ["approvals_bot"]  # fixtures, used by name

DEV = "bp03devday"


def posted(bot: Bot) -> list[SlackEvent]:
    return [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_lost_post_found_while_its_update_is_rate_limited_is_kept_where_it_is(approvals_bot: Bot) -> None:
    bot = approvals_bot
    with answer_lost(bot, "chat.postMessage", channel=CHANNEL, in_thread=False):
        bot.command(f"update acme/app-db {DEV} target=production", user=ALICE)
    wait_until(lambda: posted(bot), "the post Slack took never landed")
    [request] = bot.deps.store.requests([RequestState.PENDING])
    assert request.message_ts is None
    sweep(bot)
    # An hour's rate limit: answered at once, not waited for.
    bot.slack.add_fault(MethodFault("chat.update", status=429, retry_after=3600, times=1))
    for _ in range(2):
        swept_later(bot)  # past the grace of a post whose maker may still be at it
    assert bot.slack.method_calls("chat.update"), "the sweep never found its post"
    [message] = posted(bot)
    latest = bot.deps.store.get_request(request.id)
    assert latest is not None and (latest.message_channel, latest.message_ts) == (message.channel, message.ts)
    # Cancelled from elsewhere (the App Home, no message): its message in the channel shows it all the same.
    bot.click(CANCEL, request.id, user=ALICE)
    assert bot.executor.wait_idle(timeout=30)
    closed = bot.deps.store.get_request(request.id)
    assert closed is not None and closed.state is RequestState.CANCELLED
    assert [m.ts for m in posted(bot)] == [message.ts]  # never posted twice
    updates = [c for c in bot.slack.method_calls("chat.update") if c.get("ts") == message.ts]
    assert len(updates) >= 2 and "cancelled" in str(updates[-1]).lower()

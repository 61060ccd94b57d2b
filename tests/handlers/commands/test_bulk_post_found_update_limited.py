"""A bulk change whose post's answer was lost, found in its channel by the sweep while Slack rate limits the
update that would show it as it stands: where its message is is kept all the same, so the sweeps that follow
update it and put its list in its thread, rather than leave it a message the bot never finds again. Through
Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot, sweep, swept_later
from bulk_helpers import button, channel_messages
from conftest import CHANNEL, Bot, answer_lost
from processes import wait_until
from test_bulk import add_databases

from bot.domain.batches import BatchState
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_lost_bulk_post_found_while_its_update_is_rate_limited_is_kept_and_threaded(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    add_databases(planetscale, "limited", 2)
    with answer_lost(approvals_bot, "chat.postMessage", channel=CHANNEL, in_thread=False):
        approvals_bot.command('update acme/limited-* "Production daily" retention=14d', user=ALICE)
    wait_until(lambda: [m for m in channel_messages(approvals_bot) if m.channel == CHANNEL],
               "the post Slack took never landed")
    sweep(approvals_bot)
    # An hour's rate limit: answered at once, not waited for.
    approvals_bot.slack.add_fault(MethodFault("chat.update", status=429, retry_after=3600, times=1))
    for _ in range(2):
        swept_later(approvals_bot)  # past the grace of a post whose maker may still be at it
    assert approvals_bot.slack.method_calls("chat.update"), "the sweep never found its post"
    [message] = [m for m in channel_messages(approvals_bot) if m.channel == CHANNEL]
    listed = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
              and "Each policy this change would change" in e.text]
    assert len(listed) == 1, f"its list is in its thread {len(listed)} times"
    batch_id = button(message, BULK_APPROVE)
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and (batch.message_channel, batch.message_ts) == (message.channel, message.ts)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED

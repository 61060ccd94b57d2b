"""A bulk change whose post to its channel Slack answers after the client's timeout: whether Slack made the post or
not, the channel shows the bulk change once after the sweeps that follow, as an ordinary request's lost post is
made late (looked for by its metadata first). Otherwise a bulk change Slack never posted waits for approvers who
were never shown it, and expires. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, CAROL, approvals_bot, sweep, swept_later
from bulk_helpers import button, channel_messages
from conftest import CHANNEL, Bot, answer_lost
from processes import wait_until
from test_bulk import add_databases

from bot.domain.batches import BatchState
from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


@pytest.mark.parametrize("taken", [True, False], ids=["slack-took-it", "slack-never-took-it"])
def test_a_bulk_change_whose_posts_answer_was_lost_is_shown_in_its_channel_once(
    approvals_bot: Bot, planetscale: PlanetScaleState, taken: bool
) -> None:
    add_databases(planetscale, "unseen", 2)
    with answer_lost(approvals_bot, "chat.postMessage", channel=CHANNEL, in_thread=False,
                     status=None if taken else 503):
        approvals_bot.command('update acme/unseen-* "Production daily" retention=14d', user=ALICE)
    if taken:  # the late answer lands within the test: waited for, as a loaded machine may land it later
        wait_until(lambda: [m for m in channel_messages(approvals_bot) if m.channel == CHANNEL],
                   "the post Slack took never landed")
    sweep(approvals_bot)
    for _ in range(2):
        swept_later(approvals_bot)  # past the grace of a post whose maker may still be at it
    shown = [m for m in channel_messages(approvals_bot) if m.channel == CHANNEL]
    assert len(shown) == 1, f"shown {len(shown)} times"
    # Its list of policies is in its thread, once, and its approvers act on it from there.
    [message] = shown
    listed = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
              and "Each policy this change would change" in e.text]
    assert len(listed) == 1, f"its list is in its thread {len(listed)} times"
    batch_id = button(message, BULK_APPROVE)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED


def test_a_bulk_changes_thread_shown_by_a_click_after_its_post_was_lost_gets_its_list_once(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Slack made the post but its answer was lost; a click on it (the requester's own, refused) tells the bot
    where it is before any sweep looks: the next sweeps put its list of policies in its thread once, and post
    no second message."""
    add_databases(planetscale, "clicked", 2)
    with answer_lost(approvals_bot, "chat.postMessage", channel=CHANNEL, in_thread=False):
        approvals_bot.command('update acme/clicked-* "Production daily" retention=14d', user=ALICE)
    wait_until(lambda: [m for m in channel_messages(approvals_bot) if m.channel == CHANNEL],
               "the post Slack took never landed")  # its late answer, waited for: a fixed pause may end first
    [message] = [m for m in channel_messages(approvals_bot) if m.channel == CHANNEL]
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=ALICE, message=message)
    sweep(approvals_bot)
    for _ in range(2):
        swept_later(approvals_bot)
    assert [m.ts for m in channel_messages(approvals_bot) if m.channel == CHANNEL] == [message.ts]
    listed = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
              and "Each policy this change would change" in e.text]
    assert len(listed) == 1, f"its list is in its thread {len(listed)} times"

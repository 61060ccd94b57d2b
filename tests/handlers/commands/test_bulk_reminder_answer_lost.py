"""A bulk change's reminder to its approvers whose answer Slack loses past the client's timeout: whether Slack took
the reply or not, the thread holds it once after the sweeps that follow, as an ordinary request's reminder is
(never lost when Slack never made it, never said twice when Slack made it). Through Bolt's pipeline, on SQLite
and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot, sweep
from conftest import Bot, answer_lost
from test_bulk import add_databases, button, channel_messages

from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name


@pytest.mark.parametrize("taken", [True, False], ids=["slack-took-it", "slack-never-took-it"])
def test_a_bulk_changes_reminder_whose_answer_was_lost_is_in_its_thread_once(
    approvals_bot: Bot, planetscale: PlanetScaleState, taken: bool
) -> None:
    add_databases(planetscale, "nag", 2)
    approvals_bot.command('update acme/nag-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None

    def reminders() -> list[str]:
        return [e.text for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
                and e.text.startswith(":bell:")]

    later = batch.created_at + (batch.expires_at - batch.created_at) * 0.6
    # The change path's clock alone: the store's stays Slack's, whose time stamps the look in the thread reads.
    approvals_bot.deps.changes.clock = lambda: later
    with answer_lost(approvals_bot, "chat.postMessage", in_thread=True, status=None if taken else 503):
        sweep(approvals_bot)
    if taken:  # the late answer is carried out within the test, whatever the machine's load
        assert reminders(), "the reminder Slack took never landed"
    for _ in range(3):
        sweep(approvals_bot)
    assert len(reminders()) == 1, reminders()

"""A click on Approve of a bulk change in `/backup-policy pending` (an ephemeral list) while Slack fails for a moment
to update the bulk change's own message in its channel: the list is not replaced by the bulk change, and the channel
message is still owed the truth. As test_a_click_from_pending_while_slack_fails is for a single request; through
Bolt's pipeline and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot, latest_view, swept_later
from bulk_helpers import button, channel_messages
from conftest import Bot

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_bulk_change_approved_from_pending_while_slack_fails_is_shown_applied_in_its_channel(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command('update acme/* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    approvals_bot.slack.add_fault(MethodFault("chat.update", error="internal_error", times=20))
    reply = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, channel="D0CAROLDM1")
    batch = approvals_bot.deps.bulk.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED, batch
    replaced = [e for e in reply.events if e.kind == "response" and e.replace_original]
    assert not replaced, "the pending list replaced by the bulk change's message"
    approvals_bot.slack.faults.clear()
    swept_later(approvals_bot, 700)
    assert BULK_APPROVE not in latest_view(approvals_bot, message), "its channel message still offers Approve"

"""A pending bulk change whose every possible approver of some of its policies has since left the asked groups is
said once, in its thread and to its requester, and recorded, as a single request is (test_nobody_left.py); it
stays pending, in case the group is refilled. Driven through Bolt's pipeline with the emulators (SQLite and
PostgreSQL)."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, LEADS, approvals_bot, direct_messages, swept_later, thread_of
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from test_nobody_left import _leads_are

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

NOTE = "Nobody left can approve"


def _recorded(bot: Bot) -> list[str]:
    return [e.detail or "" for e in bot.audit.all() if "nobody left" in (e.detail or "")]


def test_a_bulk_change_whose_approvers_all_left_is_said_once_and_stays_pending_until_refilled(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice asks a bulk change of two production policies (one approval from @dba-leads each); then everyone
    leaves @dba-leads. The sweep says so once in its thread and to alice, naming the group and what to do, and
    records it; later sweeps say nothing more. Once carol is back, her approval applies it."""
    ask_bulk_of_two(approvals_bot, planetscale)
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    _leads_are(approvals_bot, [])
    swept_later(approvals_bot, 700)
    [note] = [t for t in thread_of(approvals_bot, message) if NOTE in t]
    assert "S0DBALEAD1" in note and "cancel" in note, note
    [dm] = [t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]
    assert "S0DBALEAD1" in dm, dm
    assert len(_recorded(approvals_bot)) == 1, _recorded(approvals_bot)
    swept_later(approvals_bot, 1400)
    swept_later(approvals_bot, 2100)
    assert len([t for t in thread_of(approvals_bot, message) if NOTE in t]) == 1
    assert len([t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]) == 1
    assert len(_recorded(approvals_bot)) == 1
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.PENDING
    _leads_are(approvals_bot, LEADS)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    done = approvals_bot.deps.store.get_batch(batch_id)
    assert done is not None and done.state is BatchState.APPROVED
    assert planetscale.policy("acme", "one-0", "one-0-prod")["retention_value"] == 14


def test_someone_left_to_approve_a_bulk_change_is_not_nobody(approvals_bot: Bot,
                                                             planetscale: PlanetScaleState) -> None:
    """Carol alone is left in @dba-leads: she can approve, so nothing is said."""
    ask_bulk_of_two(approvals_bot, planetscale)
    [message] = channel_messages(approvals_bot)
    _leads_are(approvals_bot, [CAROL])
    swept_later(approvals_bot, 700)
    assert [t for t in thread_of(approvals_bot, message) if NOTE in t] == []
    assert _recorded(approvals_bot) == []


def test_a_bulk_nobody_left_note_slack_failed_to_take_is_said_at_a_later_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Slack answers the thread note and the DM with a passing failure: a later sweep says both, once."""
    ask_bulk_of_two(approvals_bot, planetscale)
    [message] = channel_messages(approvals_bot)
    _leads_are(approvals_bot, [])
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", times=2))
    swept_later(approvals_bot, 700)
    swept_later(approvals_bot, 1400)
    swept_later(approvals_bot, 2100)
    assert len([t for t in thread_of(approvals_bot, message) if NOTE in t]) == 1
    assert len([t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]) == 1
    assert len(_recorded(approvals_bot)) == 1

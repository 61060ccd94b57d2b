"""Review rev19l of issue 19: the "nobody left can approve" note (Verdict.nobody_left, claim_notice_recorded),
tried as an attacker of "nothing lost": Slack failing for a moment when it is said. Driven through Bolt's
pipeline with the emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot, direct_messages, swept_later
from conftest import Bot
from test_nobody_left import _leads_are, _notes, asked

from bot.emulators.slack import MethodFault, SlackEvent

__all__ = ["approvals_bot", "asked"]  # fixtures, used by name


def test_a_nobody_left_note_slack_failed_to_take_is_said_at_a_later_sweep(approvals_bot: Bot,
                                                                           asked: SlackEvent) -> None:
    """Everyone leaves @dba-leads; the sweep that finds it claims the note (recorded once) and posts it in the
    thread and to alice, but Slack answers both posts with a passing failure (internal_error). The claims of the
    thread note and the DM are given back to be tried again, yet nothing says it again: the next sweeps find the
    note's own claim taken and say nothing, and alice never hears that her request can only expire."""
    _leads_are(approvals_bot, [])
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", times=2))
    swept_later(approvals_bot, 700)
    assert _notes(approvals_bot, asked) == []  # Slack took neither
    swept_later(approvals_bot, 1400)
    swept_later(approvals_bot, 2100)
    assert len(_notes(approvals_bot, asked)) == 1, "the thread never told nobody left can approve"
    assert len([t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]) == 1, \
        "alice never told nobody left can approve her request"


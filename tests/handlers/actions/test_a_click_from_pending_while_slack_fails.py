"""A click on Approve in `/backup-policy pending` (an ephemeral list) while Slack fails for a moment to update the
request's own message in its channel: the channel message is still owed the truth, however the list was answered.
Through Bolt's pipeline and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import CAROL, approvals_bot, ask, latest_view, request_id, swept_later
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_request_approved_from_pending_while_slack_fails_is_shown_applied_in_its_channel(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves alice's request from her pending list while chat.update fails (Slack's own failure, worth
    trying again). The change applies; once Slack takes updates again, its channel message must not keep showing
    it pending with its Approve button."""
    message = ask(approvals_bot)
    rid = request_id(message)
    approvals_bot.slack.add_fault(MethodFault("chat.update", error="internal_error", times=20))
    approvals_bot.click(APPROVE, rid, user=CAROL, channel="D0CAROLDM1")
    request = approvals_bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.APPLIED, request
    approvals_bot.slack.faults.clear()
    swept_later(approvals_bot, 700)
    shown = latest_view(approvals_bot, message)
    assert APPROVE not in shown, "the channel message still shows the applied request pending, with its Approve"

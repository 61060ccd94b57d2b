"""The buttons the bot's messages carry, and the action IDs their clicks come back with."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ButtonElement,
    ConfirmObject,
)

from bot.domain.change_requests import ChangeRequest
from bot.domain.commands import DatabaseRef

APPROVE, REJECT, CANCEL, REVERT = "request_approve", "request_reject", "request_cancel", "change_revert"


def reject_button(request: ChangeRequest) -> ButtonElement:
    """Reject asks first wherever it is shown: a slip closes the request for good."""
    return ButtonElement(text="Reject", action_id=REJECT, value=request.id, style="danger",
                         confirm=ConfirmObject(title="Reject this change?", text=f"Nothing will be sent to "
                                               f"PlanetScale and <@{request.requester}> will be told.",
                                               confirm="Reject", deny="Keep it"))


EDIT, EDIT_FORM, EDIT_CONFIRM = "policy_edit", "policy_edit_form", "policy_edit_confirm"


def edit_button(db: DatabaseRef, policy_id: str) -> ButtonElement:
    return ButtonElement(text="Edit", action_id=EDIT, value=f"{db}/{policy_id}")

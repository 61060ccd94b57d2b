"""Issue 19's items about acting once and telling once: a request Slack sent once is acted on once, an applied
change reaches the audit channel once, a queued change is posted when it lands, a reminder waits for its
message, and Reject asks first wherever it is shown."""

from __future__ import annotations

import json
from typing import Any

from approval_helpers import ALICE, CAROL, LEADS, approvals_bot, ask, request_id
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE, CANCEL, REJECT

__all__ = ["approvals_bot"]  # a fixture, used by name


def buttons(reply_blocks: list[dict[str, Any]], action_id: str) -> list[dict[str, Any]]:
    return [e for b in reply_blocks for e in b.get("elements", []) if e.get("action_id") == action_id]


def test_reject_in_pending_asks_for_confirmation_as_everywhere_else(approvals_bot: Bot,
                                                                    planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    [in_message] = buttons(message.blocks, REJECT)
    listed = approvals_bot.command("pending", user=CAROL)
    [answer] = [e for e in listed.private if e.blocks]
    [in_pending] = buttons(answer.blocks, REJECT)
    assert in_pending["confirm"] == in_message["confirm"]
    assert json.dumps(in_pending["confirm"]).count("Reject") >= 2
    assert planetscale.calls("PATCH") == []


AUDIT = "C0RANDOM01"


def audit_posts(bot: Bot) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.channel == AUDIT]


def test_an_applied_change_reaches_the_audit_channel_once_however_often_its_buttons_are_clicked(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.deps.audit_channel = AUDIT
    message = ask(approvals_bot)
    rid = request_id(message)
    approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    assert len(planetscale.calls("PATCH")) == 1 and len(audit_posts(approvals_bot)) == 1
    for action_id, user in ((APPROVE, CAROL), (APPROVE, LEADS[1]), (REJECT, LEADS[1]), (CANCEL, ALICE)):
        again = approvals_bot.click(action_id, rid, user=user, message=message)
        assert "already applied" in again.all_text()
    assert len(audit_posts(approvals_bot)) == 1
    assert len(planetscale.calls("PATCH")) == 1

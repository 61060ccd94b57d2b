"""Issue 19's items about acting once and telling once: a request Slack sent once is acted on once, an applied
change reaches the audit channel once, a queued change is posted when it lands, a reminder waits for its
message, and Reject asks first wherever it is shown."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, LEADS, approvals_bot, ask, request_id, sweep, thread_of
from conftest import Bot

from bot.adapters.schema import change_requests
from bot.emulators.planetscale_state import PlanetScaleState
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


def test_a_reminder_due_while_the_message_is_unknown_is_sent_once_a_click_shows_where_it_is(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    now = time.time()
    with approvals_bot.deps.store.engine.begin() as conn:  # a crash between posting it and recording where
        conn.execute(sa.update(change_requests).values(message_channel=None, message_ts=None,
                                                       created_at=now - 13 * 3600, expires_at=now + 11 * 3600))
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert thread_of(approvals_bot, message) == []  # nowhere to say it yet
    refused = approvals_bot.click(APPROVE, request_id(message), user=ALICE, message=message)  # her own: refused
    assert "Nobody approves or rejects their own request" in refused.all_text()
    sweep(approvals_bot)
    sweep(approvals_bot)
    [reminder] = thread_of(approvals_bot, message)
    assert reminder.startswith(":bell: Reminder for <!subteam^S0DBALEAD1>")
    assert planetscale.calls("PATCH") == []

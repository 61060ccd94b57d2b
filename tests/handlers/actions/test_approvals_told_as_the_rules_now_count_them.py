"""Approvals told as the rules count them now, driven through Bolt's pipeline with the emulators (SQLite and
PostgreSQL): a bulk change's decided message names the approvals that decided it as a single change's does; the
"nobody left to approve" note is said once, or recorded as unsayable; a request moved from applying back to
pending is counted again under the rules as they are."""

from __future__ import annotations

import json
import time

from access_rules import production_asks
from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    RULES,
    approvals_bot,
    ask,
    direct_messages,
    latest_view,
    policy_busy,
    request_id,
    swept_later,
)
from bulk_helpers import button, latest
from conftest import Bot
from test_nobody_left import _leads_are

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.domain.outcomes import OutcomeKind
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackEvent
from handlers.blocks import APPROVE, CANCEL
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

CHANNEL = "C0DBAOPS01"
LEAD2 = "U0LEAD0002"


def _batch_message(bot: Bot) -> SlackEvent:
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None and e.channel == CHANNEL
                 and any(el.get("action_id") == BULK_APPROVE for b in e.blocks for el in b.get("elements", []))]
    return message


def test_a_bulk_changes_decided_message_names_the_approvals_that_decided_it(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's bulk change needs two approvals of @dba-leads; carol gives one, then the rules ask one: lead 2's
    click decides it on carol's. Its message read "Approvals: 2 of 2 (carol, lead 2)"; a single change's reads
    "Approvals: 1 of 1 (carol); also approved: lead 2"."""
    approvals_bot.use_rules(RULES.format(approvals=2))
    approvals_bot.command('update acme/app-db "Production w*" retention=5w')
    message = _batch_message(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    approvals_bot.use_rules(production_asks(1))
    approvals_bot.click(BULK_APPROVE, batch_id, user=LEAD2, message=message)
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED, batch
    shown = json.dumps(latest(approvals_bot, message).blocks)
    assert f"*Approvals:* 1 of 1 (<@{CAROL}>); also approved: <@{LEAD2}>" in shown, json.loads(shown)


def _unsaid(bot: Bot, rid: str) -> list[str]:
    return [e.detail or "" for e in bot.audit.all()
            if e.request_id == rid and "not said in its thread" in (e.detail or "")]


def test_a_nobody_left_note_with_no_thread_to_say_it_in_is_recorded_once_and_not_tried_again(
        approvals_bot: Bot) -> None:
    """alice's request is shown through the command's response URL (the bot is not in the channel: no message
    ts, no thread). Everyone leaves @dba-leads: alice hears it once; the thread note, which has no thread, was
    never recorded as said, so every sweep on the request's turn found the note owed and took it up again."""
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="not_in_channel", in_thread=False,
                                              channel=CHANNEL))
    approvals_bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    [request] = approvals_bot.deps.store.requests()
    assert request.message_ts is None, request
    _leads_are(approvals_bot, [])
    swept_later(approvals_bot, 700)
    swept_later(approvals_bot, 1400)
    assert len([t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]) == 1
    assert len(_unsaid(approvals_bot, request.id)) == 1, \
        [e.detail for e in approvals_bot.audit.all() if e.request_id == request.id]
    later = time.time() + 2100
    approvals_bot.deps.changes.clock = lambda: later
    approvals_bot.deps.store.clock = lambda: later
    again = [o.kind for o in approvals_bot.deps.changes.judge_again()]
    assert OutcomeKind.NOBODY_LEFT not in again, "the note is taken up again on every turn"
    swept_later(approvals_bot, 2800)
    assert len([t for t in direct_messages(approvals_bot, ALICE) if "nobody left" in t]) == 1
    assert len(_unsaid(approvals_bot, request.id)) == 1


def test_a_request_sent_back_to_pending_counts_the_approvals_that_still_count(approvals_bot: Bot) -> None:
    """carol approves alice's request while another change holds the policy: approved, queued. The rules then ask
    one approval of lead 2 alone; the sweep judges it again under the lease and sends it back to pending, but it
    kept carol's approval as counted: alice cancels it, and its message read "Approvals: 1 of 1 (carol)"."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    rid = request_id(message)
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    assert _state(approvals_bot, rid) is RequestState.APPROVED
    approvals_bot.use_rules(production_asks(1, LEAD2))
    swept_later(approvals_bot)
    assert _state(approvals_bot, rid) is RequestState.PENDING
    approvals_bot.click(CANCEL, rid, user=ALICE, message=message)
    assert _state(approvals_bot, rid) is RequestState.CANCELLED
    shown = latest_view(approvals_bot, message)
    assert f"*Approvals:* 0 of 1 (none yet); also approved: <@{CAROL}>" in shown, json.loads(shown)


def _state(bot: Bot, rid: str) -> RequestState:
    request = bot.deps.store.get_request(rid)
    assert request is not None
    return request.state

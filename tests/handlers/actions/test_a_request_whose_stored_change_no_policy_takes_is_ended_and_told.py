"""A request whose stored change holds values no policy takes (its row damaged in the database: JSON of the right
shape, so it is not skipped as undecodable) is ended and told when the sweep or an approval comes to it, with
nothing sent: it was left 'applying' for good (each sweep logging the same error, its thread silent, /healthz
'ok'), and an Approve click on it answered 'Something went wrong' and left it pending. The same with its stored
policy (`before`) damaged to what no policy matches: ended and told, in plain words where its message cannot be
built, and /healthz names the row."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    RULES,
    direct_messages,
    request_id,
    request_message,
    swept_later,
    thread_of,
)
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from bot.runtime.app import health_report
from handlers.blocks import APPROVE, CANCEL, REJECT, REVERT

DAMAGED = ['{"retention_value": [1]}', '{"retention_value": 9, "no_such_field": 1}']
TOLD = "holds values no policy takes"


def asked_and_damaged(bot: Bot, text: str, state: str | None = None, column: str = "changes") -> SlackEvent:
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel in bot.slack.channels]
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text(f"update change_requests set {column} = :text"), {"text": text})
        if state is not None:  # as a click that approved it, then stopped, leaves it for the sweep
            conn.execute(sa.text("update change_requests set state = :state"), {"state": state})
    return message


@pytest.mark.parametrize("text", DAMAGED)
def test_an_approved_request_whose_change_no_policy_takes_is_failed_and_told_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    message = asked_and_damaged(bot, text, state="approved")
    swept_later(bot)
    swept_later(bot, 1200)
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED, request
    assert any(TOLD in line for line in thread_of(bot, message)), thread_of(bot, message)
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("text", DAMAGED)
def test_an_approval_of_a_request_whose_change_no_policy_takes_is_answered_and_ends_it(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    message = asked_and_damaged(bot, text)
    reply = bot.click(APPROVE, request_id(message), user=CAROL, message=message).all_text()
    assert "Something went wrong" not in reply, reply
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is not RequestState.PENDING, request
    assert any(TOLD in line for line in thread_of(bot, message)), thread_of(bot, message)
    assert planetscale.calls("PATCH") == []


DAMAGED_POLICY = ["{}", '{"retention_value": "x"}']
TOLD_POLICY = "the policy stored with this request holds values no policy has"


@pytest.mark.parametrize("text", DAMAGED_POLICY)
def test_an_approved_request_whose_stored_policy_no_policy_matches_is_ended_and_told(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    message = asked_and_damaged(bot, text, state="approved", column="before")
    swept_later(bot)
    swept_later(bot, 1200)
    rid = request_id(message)
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.FAILED, request  # left applying for good
    assert any(TOLD_POLICY in line for line in thread_of(bot, message)), thread_of(bot, message)
    assert any(TOLD_POLICY in line for line in direct_messages(bot, ALICE)), direct_messages(bot, ALICE)
    assert "Not applied" in shown_text(bot, message), shown_text(bot, message)
    assert f"change request {rid}" in " ".join(health_report(bot.deps).get("damaged_rows", []))
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("text", DAMAGED_POLICY)
def test_an_approval_of_a_request_whose_stored_policy_no_policy_matches_is_answered_and_ends_it(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    message = asked_and_damaged(bot, text, column="before")
    reply = bot.click(APPROVE, request_id(message), user=CAROL, message=message).all_text()
    assert "Something went wrong" not in reply and TOLD_POLICY in reply, reply
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED, request
    assert any(TOLD_POLICY in line for line in thread_of(bot, message)), thread_of(bot, message)
    assert "Not applied" in shown_text(bot, message), shown_text(bot, message)
    assert planetscale.calls("PATCH") == []


def shown_text(bot: Bot, message: SlackEvent) -> str:
    """The message as it now stands: its text and its blocks."""
    shown = [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")][-1]
    return f"{shown.text} {json.dumps(shown.blocks, ensure_ascii=False)}"


@pytest.mark.parametrize("text", DAMAGED_POLICY)
def test_a_rejection_of_a_request_whose_stored_policy_no_policy_matches_is_answered_and_ends_it(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    message = asked_and_damaged(bot, text, column="before")
    reply = bot.click(REJECT, request_id(message), user=CAROL, message=message).all_text()
    assert "Something went wrong" not in reply, reply
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED, request
    assert any(TOLD_POLICY in line for line in thread_of(bot, message)), thread_of(bot, message)
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("text", DAMAGED_POLICY)
def test_a_request_whose_stored_policy_no_policy_matches_is_ended_when_the_sweep_judges_its_approvals_again(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    bot.use_rules(RULES.format(approvals=2))
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    message = request_message(bot)
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update change_requests set before = :text"), {"text": text})
    swept_later(bot, 1200)
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED, request
    assert any(TOLD_POLICY in line for line in thread_of(bot, message)), thread_of(bot, message)
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("text", DAMAGED_POLICY)
def test_a_request_whose_stored_policy_no_policy_matches_expires_shown_and_told(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    message = asked_and_damaged(bot, text, column="before")
    swept_later(bot, 25 * 3600)
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.EXPIRED, request
    assert "Expired" in shown_text(bot, message), shown_text(bot, message)
    assert any("xpired" in line for line in direct_messages(bot, ALICE)), direct_messages(bot, ALICE)
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("text", DAMAGED_POLICY)
def test_a_revert_of_an_applied_change_whose_stored_policy_no_policy_matches_is_answered(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    message = request_message(bot)
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update change_requests set before = :text"), {"text": text})
    said = bot.click(REVERT, request_id(message), user=ALICE, message=message).all_text()
    assert "Something went wrong" not in said and "cannot be reverted" in said and TOLD_POLICY in said, said
    assert [m.ts for m in bot.slack.events if m.kind == "message" and m.thread_ts is None
            and m.channel in bot.slack.channels] == [message.ts]  # no revert asked
    assert len(planetscale.calls("PATCH")) == 1  # the change's own


@pytest.mark.parametrize("text", DAMAGED_POLICY)
def test_a_request_whose_stored_policy_no_policy_matches_is_cancelled_by_its_requester_and_shown(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    message = asked_and_damaged(bot, text, column="before")
    said = bot.click(CANCEL, request_id(message), user=ALICE, message=message).all_text()
    assert "Something went wrong" not in said, said
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.CANCELLED, request
    assert "Cancelled" in shown_text(bot, message), shown_text(bot, message)
    assert planetscale.calls("PATCH") == []

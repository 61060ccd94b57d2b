"""Each step of a request in its thread, its end told to the requester, and reminders by the sweep: each once,
whoever sends it (a click, a retried click, the sweep of another instance)."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import sqlalchemy as sa
from approval_helpers import (
    ALICE,
    CAROL,
    LEADS,
    PROD,
    RULES,
    approvals_bot,
    ask,
    direct_messages,
    request_id,
    request_message,
    sweep,
    thread_of,
)
from conftest import Bot

from bot.adapters.schema import change_requests
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE, CANCEL, REJECT

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_every_step_is_a_reply_in_the_thread_naming_who_and_the_requester_hears_the_end(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(RULES.format(approvals=2))
    message = ask(approvals_bot)
    assert thread_of(approvals_bot, message) == []
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)  # Slack retries the click
    assert thread_of(approvals_bot, message) == [":white_check_mark: <@U0CAROL001> approved (1 of 2)."]
    assert direct_messages(approvals_bot, ALICE) == []
    approvals_bot.click(APPROVE, request_id(message), user=LEADS[1], message=message)
    assert len(planetscale.calls("PATCH")) == 1
    assert thread_of(approvals_bot, message) == [
        ":white_check_mark: <@U0CAROL001> approved (1 of 2).",
        f":white_check_mark: Applied to PlanetScale, approved by <@{LEADS[1]}> (the last of 2 approvals)."]
    [told] = direct_messages(approvals_bot, ALICE)
    assert "was applied" in told and "<#C0DBAOPS01>" in told


def test_the_approval_that_applies_is_one_reply_and_clicking_it_again_adds_none(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)  # "already applied"
    sweep(approvals_bot)
    assert len(planetscale.calls("PATCH")) == 1
    assert thread_of(approvals_bot, message) == [
        ":white_check_mark: Applied to PlanetScale, approved by <@U0CAROL001>."]
    assert len(direct_messages(approvals_bot, ALICE)) == 1


def test_a_rejection_is_in_the_thread_and_told_to_the_requester(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)
    approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)
    assert thread_of(approvals_bot, message) == [
        ":x: Rejected by <@U0CAROL001>; nothing was sent to PlanetScale."]
    [told] = direct_messages(approvals_bot, ALICE)
    assert "was rejected by <@U0CAROL001>" in told


def test_the_requesters_own_cancellation_is_in_the_thread_without_telling_them(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    approvals_bot.click(CANCEL, request_id(message), user=ALICE, message=message)
    assert thread_of(approvals_bot, message) == [
        ":no_entry: Cancelled by <@U0ALICE001>; nothing was sent to PlanetScale."]
    assert direct_messages(approvals_bot, ALICE) == []


def test_a_conflict_is_in_the_thread(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    planetscale.policies[("acme", "app-db")]["bp01prod12h"]["retention_value"] = 14
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    replies = thread_of(approvals_bot, message)
    assert replies[0] == ":white_check_mark: <@U0CAROL001> approved (1 of 1)."
    assert replies[1].startswith(":warning: Conflict, not applied: the policy changed in PlanetScale")
    assert "was not applied" in direct_messages(approvals_bot, ALICE)[0]


def test_expiry_by_the_sweep_is_in_the_thread_and_told_to_the_requester_once(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    with approvals_bot.deps.store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).values(expires_at=0))
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert thread_of(approvals_bot, message) == [
        ":hourglass: Expired before enough approvals; nothing was sent to PlanetScale."]
    [told] = direct_messages(approvals_bot, ALICE)
    assert "expired before enough approvals" in told and "ask again" in told


def test_a_notice_slack_refused_is_sent_by_the_next_step(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="ratelimited", times=2))
    approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)
    assert thread_of(approvals_bot, message) == [] and direct_messages(approvals_bot, ALICE) == []
    approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)  # "already rejected"
    assert thread_of(approvals_bot, message) == [
        ":x: Rejected by <@U0CAROL001>; nothing was sent to PlanetScale."]
    assert len(direct_messages(approvals_bot, ALICE)) == 1


def _life(bot: Bot, created_ago: float, expires_in: float) -> None:
    now = time.time()
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).values(created_at=now - created_ago, expires_at=now + expires_in))


def test_reminders_at_half_life_and_an_hour_before_expiry_once_each_across_instances(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    sweep(approvals_bot)
    assert thread_of(approvals_bot, message) == []  # just asked: nothing due
    _life(approvals_bot, created_ago=13 * 3600, expires_in=11 * 3600)  # past half its life
    sweep(approvals_bot)
    sweep(approvals_bot)  # a second sweep, as another instance's, finds it claimed
    [reminder] = thread_of(approvals_bot, message)
    assert reminder.startswith(":bell: Reminder for <!subteam^S0DBALEAD1>: this request still needs 1 more approval")
    _life(approvals_bot, created_ago=23.5 * 3600, expires_in=1800)  # within the last hour
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert len(thread_of(approvals_bot, message)) == 2


def test_reminders_follow_the_access_file(approvals_bot: Bot) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1).replace('expire_after = "24h"',
                                                             'expire_after = "24h"\nremind = []'))
    message = ask(approvals_bot)
    _life(approvals_bot, created_ago=23.5 * 3600, expires_in=1800)
    sweep(approvals_bot)
    assert thread_of(approvals_bot, message) == []


def test_a_reminder_slack_refuses_is_sent_by_a_later_sweep(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command(f'update acme/app-db {PROD} retention=1d reason="cost"', user=ALICE)
    message = request_message(approvals_bot)
    rid = request_id(message)
    store = approvals_bot.deps.store
    request = store.get_request(rid)
    assert request is not None
    approvals_bot.deps.changes.clock = lambda: request.created_at + 13 * 3600  # past half of 24 h
    store.set_message(rid, "C0NOSUCH01", str(message.ts))  # Slack refuses the thread reply
    sweep(approvals_bot)
    assert not any("Reminder" in r for r in thread_of(approvals_bot, message))
    store.set_message(rid, str(message.channel), str(message.ts))  # Slack is fine again
    sweep(approvals_bot)
    assert sum("Reminder" in r for r in thread_of(approvals_bot, message)) == 1


def test_a_message_the_bot_forgot_it_posted_is_learnt_from_the_click_and_kept_true(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    # The process died between chat.postMessage and recording where the message went (kill -9 in production).
    message = ask(approvals_bot)
    with approvals_bot.deps.store.engine.begin() as conn:
        conn.execute(change_requests.update().values(message_channel=None, message_ts=None))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert len(planetscale.calls("PATCH")) == 1
    [update] = [e for e in approvals_bot.slack.events if e.kind == "update"]
    assert update.ts == message.ts and "changed the backup policy" in str(update.blocks)
    assert thread_of(approvals_bot, message)[-1].startswith(":white_check_mark: Applied to PlanetScale")
    stored = approvals_bot.deps.store.get_request(request_id(message))
    assert stored is not None and (stored.message_channel, stored.message_ts) == (message.channel, message.ts)


def test_a_reminder_is_due_however_many_older_requests_are_pending(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    store = approvals_bot.deps.store
    mine = store.get_request(request_id(message))
    assert mine is not None
    for n in range(250):  # older, elsewhere, and far from their own reminders
        store.add_request(replace(mine, id=str(uuid.uuid4()), organization="globex", message_channel=None,
                                  message_ts=None, created_at=mine.created_at - 1000 + n,
                                  expires_at=mine.expires_at + 100_000))
    approvals_bot.deps.changes.clock = lambda: mine.created_at + 13 * 3600  # past half its life
    sweep(approvals_bot)
    [reminder] = thread_of(approvals_bot, message)
    assert reminder.startswith(":bell: Reminder")

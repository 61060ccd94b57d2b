"""A bulk change's Retry after a retry of it that left a policy out: a retry whose reading of one database failed
(or that was not its asker's to change) leaves that policy in no change and on no retry's message, so the first
change's Retry must still offer it. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from approval_helpers import ALICE, approvals_bot
from bulk_helpers import button, channel_messages, latest
from conftest import SIGNING_SECRET, Bot
from slack_bolt import BoltRequest
from test_bulk import add_databases, patched, policy

from bot.domain.batches import BatchOutcome, BatchOutcomeKind
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.slack_requests import signed_headers
from handlers.bulk_blocks import BULK_RETRY

__all__ = ["approvals_bot"]


def dispatch(bot: Bot, body: str) -> None:
    """A click whose ack returns before its work is done (`Bot.click` waits for all of this bot's work)."""
    bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))


def test_a_policy_a_retry_left_out_unread_is_retried_by_the_first_changes_retry(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Both development policies fail (PlanetScale answers 422); the first Retry reads rt-02 while PlanetScale fails
    for it, so only rt-01 is retried (and applied). The second click on the same Retry was told 'retried already:
    what failed again is offered on the retry's own message', where nothing offers rt-02: it was never changed."""
    dbs = add_databases(planetscale, "rt", 2)
    planetscale.add_fault(Fault(status=422, method="PATCH", times=None))
    approvals_bot.command('update acme/rt-* "Development daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.faults.clear()
    shown = latest(approvals_bot, message)
    retry = button(shown, BULK_RETRY)
    unread = planetscale.add_fault(Fault(status=500, method="GET", times=None,
                                         path_contains=f"/databases/{dbs[1]}/backup-policies"))
    approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown)
    planetscale.faults.remove(unread)
    assert [policy(planetscale, db, "dev")["retention_value"] for db in dbs] == [5, 3]
    sent = patched(planetscale)
    second = approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown).all_text()
    assert policy(planetscale, dbs[1], "dev")["retention_value"] == 5, second
    assert patched(planetscale)[len(sent):] == [f"/organizations/acme/databases/{dbs[1]}/backup-policies/"
                                                f"{dbs[1]}-dev"], "rt-01, applied by the first retry, sent again"
    third = approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown).all_text()
    assert "retried already" in third, third
    assert len(patched(planetscale)) == len(sent) + 1


def test_a_second_retry_click_while_the_first_retry_is_being_applied_is_told_so(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Development needs no approval: the first Retry click stores its retry and applies it at once. A second click
    meanwhile, while the retry is stored but not yet approved, was told it "is waiting for approval": nobody was
    asked, nothing waits. It is told the retry is being applied, and nothing is asked or sent twice."""
    dbs = add_databases(planetscale, "rb", 2)
    planetscale.add_fault(Fault(status=422, method="PATCH", times=None))
    approvals_bot.command('update acme/rb-* "Development daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.faults.clear()
    shown = latest(approvals_bot, message)
    retry = button(shown, BULK_RETRY)
    approving, answered, released = threading.Event(), threading.Event(), threading.Event()
    approve_now, ask_now = approvals_bot.deps.store.approve_batch, approvals_bot.deps.bulk.ask

    def held(*args: Any, **kwargs: Any) -> bool:
        approving.set()
        assert released.wait(60), "the second click did not end"
        return approve_now(*args, **kwargs)

    def asked(*args: Any, **kwargs: Any) -> BatchOutcome:
        outcome = ask_now(*args, **kwargs)
        if outcome.kind is BatchOutcomeKind.CLOSED:
            answered.set()
        return outcome

    approvals_bot.deps.store.approve_batch = held  # type: ignore[method-assign]
    approvals_bot.deps.bulk.ask = asked  # type: ignore[method-assign]
    _, cursor = approvals_bot.slack.events_since(0)
    body = approvals_bot.click_body(BULK_RETRY, retry, user=ALICE, message=shown)
    first = threading.Thread(target=dispatch, args=(approvals_bot, body))
    first.start()
    try:
        assert approving.wait(60), "the first click did not reach its approval"
        dispatch(approvals_bot, approvals_bot.click_body(BULK_RETRY, retry, user=ALICE, message=shown))
        assert answered.wait(60), "the second click was not answered"
    finally:
        released.set()
        first.join(60)
    assert approvals_bot.executor.wait_idle(60)
    events, _ = approvals_bot.slack.events_since(cursor)
    [second] = [e.text for e in events if e.kind in ("response", "ephemeral") and "already" in e.text]
    assert "already being applied" in second and "waiting for approval" not in second, second
    assert [policy(planetscale, db, "dev")["retention_value"] for db in dbs] == [5, 5]
    assert len(patched(planetscale)) == 4, "a policy was sent twice by the retry"  # 2 refused, then 2 applied

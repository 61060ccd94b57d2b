"""A closed request's end is told until Slack takes it: its message, its thread, its requester and (applied) the
audit channel, each once; a later sweep tells what Slack refused for a while, and gives up on what Slack
refuses for good (a deleted message) rather than asking again forever."""

from __future__ import annotations

import sqlalchemy as sa
from approval_helpers import (
    ALICE,
    CAROL,
    LEADS,
    PROD,
    approvals_bot,
    ask,
    direct_messages,
    request_id,
    second_instance,
    sweep,
    thread_of,
)
from conftest import CHANNEL, Bot

from bot.adapters import migrations
from bot.adapters.schema import MIGRATION_10_CANCELLED
from bot.adapters.store import Store
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE, REJECT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name
DEV = "bp03devday"  # development: no approval needed
TOLD_MIGRATION = 11


def shown_last(bot: Bot, ts: str) -> str:
    return str([e for e in bot.slack.events if e.ts == ts and e.kind in ("message", "update")][-1].blocks)


def test_an_end_told_once_is_not_told_again_by_later_sweeps(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert len([t for t in thread_of(approvals_bot, message) if "Rejected" in t]) == 1
    assert len(direct_messages(approvals_bot, ALICE)) == 1
    rejected = approvals_bot.deps.store.get_request(request_id(message))
    assert rejected is not None and rejected.told


def test_an_end_slack_refused_for_a_while_is_told_once_when_it_takes_it(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    with approvals_bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE change_requests SET expires_at = 0"))
    for method in ("chat.update", "chat.postMessage"):
        approvals_bot.slack.add_fault(MethodFault(method, error="internal_error", times=None))
    sweep(approvals_bot)
    sweep(approvals_bot)  # Slack still refusing: nothing is lost
    approvals_bot.slack.faults.clear()
    expired = approvals_bot.deps.store.get_request(request_id(message))
    assert expired is not None and not expired.told
    for _ in range(3):
        sweep(approvals_bot)
    assert APPROVE not in shown_last(approvals_bot, message.ts)
    assert len([t for t in thread_of(approvals_bot, message) if "Expired" in t]) == 1
    assert len(direct_messages(approvals_bot, ALICE)) == 1


def test_a_message_slack_refuses_for_good_is_given_up_not_asked_again(approvals_bot: Bot) -> None:
    """Someone deleted the request's message: chat.update answers message_not_found, which no retry changes.
    The rest is told, and the sweep does not ask Slack again every pass."""
    message = ask(approvals_bot)
    with approvals_bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE change_requests SET expires_at = 0"))
    approvals_bot.slack.add_fault(MethodFault("chat.update", error="message_not_found", times=None))
    sweep(approvals_bot)
    updates = len(approvals_bot.slack.method_calls("chat.update"))
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert len(approvals_bot.slack.method_calls("chat.update")) == updates
    assert len(direct_messages(approvals_bot, ALICE)) == 1
    expired = approvals_bot.deps.store.get_request(request_id(message))
    assert expired is not None and expired.told


def test_a_change_applied_at_once_is_not_told_again_by_the_sweep(approvals_bot: Bot) -> None:
    """Its requester saw it applied and its message was posted applied: no thread reply or DM owed."""
    approvals_bot.deps.audit_channel = "C0RANDOM01"
    approvals_bot.command(f"update acme/app-db {DEV} retention=5d")
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == CHANNEL]
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert thread_of(approvals_bot, message) == [] and direct_messages(approvals_bot, ALICE) == []
    assert len([e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == "C0RANDOM01"]) == 1


def test_a_change_applied_at_once_is_not_told_by_a_sweep_that_runs_before_it_is_marked_told(
        approvals_bot: Bot) -> None:
    """The sweep (another instance's, here run while the command's post is remembered) finds the request closed
    and not yet told: the thread notice and the DM are claimed by the command before its post, so neither is sent."""
    store = approvals_bot.deps.store
    real_set_message = store.set_message
    swept = []

    def set_message_then_sweep(request: str, channel: str, ts: str) -> None:
        real_set_message(request, channel, ts)
        if not swept:
            swept.append(request)
            sweep(approvals_bot)

    store.set_message = set_message_then_sweep  # type: ignore[method-assign]
    approvals_bot.command(f"update acme/app-db {DEV} retention=5d")
    store.set_message = real_set_message  # type: ignore[method-assign]
    [message] = [e for e in approvals_bot.slack.events
                 if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]
    sweep(approvals_bot)
    assert swept
    assert thread_of(approvals_bot, message) == [] and direct_messages(approvals_bot, ALICE) == []


def test_an_audit_post_slack_refused_is_posted_by_the_next_sweep(approvals_bot: Bot) -> None:
    approvals_bot.deps.audit_channel = "C0RANDOM01"
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="ratelimited", times=None))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    approvals_bot.slack.faults.clear()
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert len([e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == "C0RANDOM01"]) == 1
    assert len([t for t in thread_of(approvals_bot, message) if "Applied" in t]) == 1


def closed(store: Store, detail: str | None = None) -> ChangeRequest:
    request = ChangeRequest(organization="acme", database="app-db", policy_id="p", policy_name="P",
                            requester=ALICE, channel=CHANNEL, before={"target": "production"}, changes={},
                            approvals_needed=0, approvers=[], expires_at=0, state=RequestState.CANCELLED,
                            detail=detail)
    return store.add_request(request)


def test_told_once_every_owed_notice_is_claimed_and_untold_when_one_is_given_back(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    request = closed(store)
    assert store.claim_notice(request.id, "dm:cancelled")
    assert not store.mark_told(request.id, ["dm:cancelled", "cancelled"])
    assert store.claim_notice(request.id, "cancelled")
    assert store.mark_told(request.id, ["dm:cancelled", "cancelled"])
    assert [r.id for r in store.requests([RequestState.CANCELLED], told=False)] == []
    store.forget_notice(request.id, "cancelled")  # a sending that was still under way failed after all
    assert [r.id for r in store.requests([RequestState.CANCELLED], told=False)] == [request.id]
    store.close()


def test_a_notice_claimed_as_the_request_is_marked_told_counts_for_it_and_is_claimed_once(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    request = closed(store)
    assert store.claim_notice(request.id, "cancelled")
    assert not store.mark_told(request.id, ["shown:cancelled", "cancelled", "dm:cancelled"],
                               claim=["shown:cancelled", "cancelled"])  # the DM is still owed
    assert not store.claim_notice(request.id, "shown:cancelled")  # claimed, though not told yet
    assert store.claim_notice(request.id, "dm:cancelled")
    assert store.mark_told(request.id, ["shown:cancelled", "cancelled", "dm:cancelled"], claim=["shown:cancelled"])
    assert [r.id for r in store.requests([RequestState.CANCELLED], told=False)] == []
    store.close()


def test_the_upgrade_counts_requests_closed_before_it_as_told_but_those_migration_10_cancelled(
        store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    before, cancelled = closed(store), closed(store, MIGRATION_10_CANCELLED)
    with store.engine.begin() as conn:
        migrations.stamp(conn, TOLD_MIGRATION - 1)
    store.migrate()
    assert [r.id for r in store.requests([RequestState.CANCELLED], told=False)] == [cancelled.id]
    assert store.get_request(before.id).told  # type: ignore[union-attr]
    store.close()



def test_an_approval_left_queued_shows_the_same_whichever_instance_is_clicked(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    """carol's approval leaves alice's change queued (PlanetScale unreadable); a lead's late click on the other
    instance is told it is approved already, and the message stays approved and queued, without buttons."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    planetscale.add_fault(Fault(status=503, method="GET", times=None))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    planetscale.faults.clear()
    reply = second_instance.click(APPROVE, request_id(message), user=LEADS[1], message=message)
    assert "already approved" in reply.all_text()
    shown = shown_last(approvals_bot, message.ts)
    assert APPROVE not in shown and "Queued:" in shown
    assert planetscale.calls("PATCH") == []

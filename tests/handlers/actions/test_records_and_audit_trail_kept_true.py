"""The record and the audit trail kept true through interleavings: a requester told though Slack answered late,
a change that cannot be judged for longer than a request lives closed, a rejection always on the audit trail, an
applied change in the audit channel once, a fully approved request that could not be judged not left to expire,
a request an older version left applying recorded applied, and an approval landing after a cancel not recorded.
Driven through Bolt's pipeline with the emulators."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from access_rules import admin_asks
from alembic import command
from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    approvals_bot,
    ask,
    policy_busy,
    request_id,
    request_message,
    sweep,
    thread_of,
)
from conftest import Bot, answer_lost

from bot.adapters import migrations
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE, REJECT

__all__ = ["approvals_bot"]  # fixtures, used by name

CHANNEL = "C0DBAOPS01"


def test_a_request_whose_posting_slack_answers_late_is_still_told_to_its_requester(approvals_bot: Bot) -> None:
    with answer_lost(approvals_bot, "chat.postMessage"):  # Slack posts it, though the bot stopped waiting
        reply = approvals_bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE, channel=CHANNEL)
    assert [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == CHANNEL]
    [pending] = approvals_bot.deps.store.requests([RequestState.PENDING])
    told = " ".join(e.text for e in reply.events if e.kind == "response")
    assert "Something went wrong" not in told, told
    assert "approval" in told, f"the requester is never told the request waits for approval: {told!r}"
    assert request_message(approvals_bot) is not None and pending is not None


DEV = "bp03devday"
# Development changes need no approval, by a PlanetScale admin; a request lives a day.
ROLE_DEV_RULES = """
[approvals]
expire_after = "24h"

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
planetscale_role = "admin"
"""


def test_a_change_that_cannot_be_judged_for_longer_than_a_request_lives_is_closed_not_applied_days_later(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's no-approval change to a development policy is asked while another change holds its lease, so it
    is left to the sweep; read under its lease, PlanetScale's members cannot be read, and stay so for two days.
    Every sweep judges it again; when the member list comes back, the change asked two days ago (its request
    lived a day) is sent with nobody asked."""
    approvals_bot.use_rules(ROLE_DEV_RULES)
    changes = approvals_bot.deps.changes
    with policy_busy(approvals_bot, DEV):
        approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    # From the read under the lease on, the role look-up fails.
    planetscale.add_fault(Fault(status=503, path_contains="/members", times=None))
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    now = [request.created_at]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    for _ in range(4):  # two days of sweeps while the member list cannot be read
        now[0] += 12 * 3600
        sweep(approvals_bot)
    planetscale.faults.clear()
    now[0] += 120
    sweep(approvals_bot)
    assert planetscale.calls("PATCH") == [], "a change asked two days ago, its request long past its life, is sent"
    latest = approvals_bot.deps.store.get_request(request.id)
    assert latest is not None and latest.state in (RequestState.FAILED, RequestState.EXPIRED)


def test_a_rejection_is_never_on_the_request_without_being_on_the_audit_trail(approvals_bot: Bot) -> None:
    """carol rejects alice's request; the instance dies (here: its next write to the database fails) right after
    the request is moved to rejected. The request is rejected for good, and the audit trail never says so."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    store = approvals_bot.deps.store
    real_record = store.record

    def lost(event: Any) -> None:
        raise ConnectionError("the database went away")  # as a crash between the two writes

    store.record = lost  # type: ignore[method-assign]
    try:
        approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)
    finally:
        store.record = real_record  # type: ignore[method-assign]
    request = store.get_request(request_id(message))
    assert request is not None
    recorded = [e.action for e in approvals_bot.audit.all() if e.request_id == request.id]
    if request.state is RequestState.REJECTED:
        assert "rejected" in recorded, f"rejected, and the audit trail has only {recorded}"
    else:
        assert request.state is RequestState.PENDING and "rejected" not in recorded


RANDOM = "C0RANDOM01"
AUDIT = "C0DBAOPS01"


def test_an_applied_change_slack_took_after_the_timeout_is_in_the_audit_channel_once(approvals_bot: Bot) -> None:
    """alice's no-approval change to a development policy is applied; its post to the audit channel is answered by
    Slack after the client stopped waiting. Slack took it; the bot gives its claim back, and the next sweep
    posts the same applied change to the audit channel a second time."""
    approvals_bot.deps.audit_channel = AUDIT
    store = approvals_bot.deps.store
    # The request's own message is posted; its post to the audit channel Slack answers late.
    with answer_lost(approvals_bot, "chat.postMessage", channel=AUDIT, in_thread=False):
        approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE, channel=RANDOM)

    def in_audit() -> list[str]:
        return [e.text for e in approvals_bot.slack.events if e.kind == "message" and e.channel == AUDIT
                and e.thread_ts is None]

    assert len(in_audit()) == 1, f"the applied change is in the audit channel {len(in_audit())} times"
    [request] = store.requests([RequestState.APPLIED])
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert len(in_audit()) == 1, f"the applied change is in the audit channel {len(in_audit())} times"
    assert request is not None


# Production changes need one approval, asked by a PlanetScale admin.
ROLE_PROD_RULES = admin_asks(1)


def test_a_fully_approved_request_whose_judging_could_not_tell_is_not_left_to_expire(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves alice's production change while PlanetScale's member list cannot be read for a moment
    (alice's admin role cannot be checked): nothing is sent, her approval is kept (right). PlanetScale answers
    again a minute later; the approvers are reminded that it "still needs 0 more approvals", and the request,
    with every approval it needs, expires."""
    approvals_bot.use_rules(ROLE_PROD_RULES)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None
    planetscale.add_fault(Fault(status=503, path_contains="/members", times=None))
    approvals_bot.click(APPROVE, request.id, user=CAROL, message=message)
    planetscale.faults.clear()
    now = [request.created_at]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    for hours in (13, 12):  # the reminder at half its life, then past its end
        now[0] += hours * 3600
        sweep(approvals_bot)
    reminders = [t for t in thread_of(approvals_bot, message) if t.startswith(":bell:")]
    assert not [t for t in reminders if "needs 0 more" in t], reminders
    latest = approvals_bot.deps.store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPLIED, \
        f"{latest and latest.state}, with every approval it needs"


def test_a_request_an_older_version_left_applying_after_its_patch_landed_is_recorded_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """An older version (before the audit entry that goes on the record before a PATCH leaves) approved alice's
    change, sent its PATCH, which landed, and stopped before recording anything. After the upgrade, the sweep
    finds the request applying with no 'sending' entry, takes it as never sent, judges it again on the policy,
    which now holds the change, and records it as failed because "the policy changed in PlanetScale"."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    rid = request_id(message)
    store = approvals_bot.deps.store
    store.add_approval(rid, CAROL)
    with store.engine.begin() as conn:  # as the older version left it: claimed, its worker gone
        command.downgrade(migrations.config(conn), "0016")  # the older version's schema (before 0017 marks)
        conn.execute(sa.text("UPDATE change_requests SET state = 'applying', lease_until = 0 WHERE id = :id"),
                     {"id": rid})
        migrations.upgrade(conn)  # the upgrade to this version marks it as the older version's
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=5, retention_unit="day")  # it landed
    sweep(approvals_bot)
    latest = store.get_request(rid)
    assert latest is not None and latest.state is RequestState.APPLIED, \
        f"{latest and latest.state}: {latest and latest.detail}"


def test_an_approval_that_lands_after_a_cancel_is_not_recorded_as_approving_it(approvals_bot: Bot) -> None:
    """carol clicks Approve as alice cancels: carol's click found the request pending, alice's cancel lands
    first. The request is cancelled (right), yet the audit trail then records carol approving it and the thread
    shows ':white_check_mark: carol approved (1 of 1)' below 'Cancelled by alice'."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    rid = request_id(message)
    store = approvals_bot.deps.store
    real_add = store.add_approval

    def cancelled_first(request_id: str, approver: str, record: Any = None) -> Any:
        approvals_bot.deps.changes.cancel(request_id, ALICE)  # alice's click, landing between carol's steps
        return real_add(request_id, approver, record=record)

    store.add_approval = cancelled_first  # type: ignore[method-assign]
    try:
        approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    finally:
        store.add_approval = real_add  # type: ignore[method-assign]
    assert store.get_request(rid) is not None and store.get_request(rid).state is RequestState.CANCELLED  # type: ignore[union-attr]
    actions = [e.action for e in approvals_bot.audit.all() if e.request_id == rid]
    assert "approved" not in actions[actions.index("cancelled"):], actions
    assert not [t for t in thread_of(approvals_bot, message) if "approved" in t and "1 of 1" in t]

"""Reverts asked once across instances (the watch's Revert, and the upgrade that cancels duplicates, telling
their requesters), and every request's final state shown on its message even where Slack refused a step for a
moment (expired, applied by the sweep, approved and waiting). Driven through Bolt's pipeline with the
emulators."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import sqlalchemy as sa
from approval_helpers import (
    ALICE,
    BOB,
    CAROL,
    PROD,
    approvals_bot,
    ask,
    direct_messages,
    request_id,
    second_instance,
    sweep,
    thread_of,
)
from conftest import SIGNING_SECRET, Bot
from slack_bolt import BoltRequest

from bot.adapters import migrations
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.emulators.slack_requests import signed_headers
from bot.runtime.watch import build_watcher
from handlers.blocks import APPROVE, REVERT
from handlers.watch import REVERT_OUTSIDE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

AUDIT = "C0DBAOPS01"


def test_two_clicks_on_the_watchs_revert_on_two_instances_make_one_request(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    """The watch posts a change made in PlanetScale's dashboard with a Revert; alice and bob click it at once,
    their clicks answered by two instances: two pending reverts of the same change, each with its own Approve
    buttons and reminders (the bot's own reverts are held to one across instances)."""
    approvals_bot.deps.audit_channel = AUDIT
    watcher = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=1)
    try:
        watcher.run_once()  # the baseline
        planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
        _, cursor = approvals_bot.slack.events_since(0)
        watcher.run_once()
    finally:
        watcher.stop()
    events, _ = approvals_bot.slack.events_since(cursor)
    [posted] = [e for e in events if e.kind == "message" and e.text.startswith(":eyes: Changed outside the bot")]
    notice = next(e["value"] for b in posted.blocks for e in b.get("elements", [])
                  if e.get("action_id") == REVERT_OUTSIDE)
    start = threading.Barrier(2)
    both_looked = threading.Barrier(2, timeout=10)
    for bot in (approvals_bot, second_instance):
        def find(db: Any, ref: str, visible: Any = None, listed: Any = None,
                 real: Any = bot.deps.changes.policies.find_policy) -> Any:
            with contextlib.suppress(threading.BrokenBarrierError):  # once fixed, the second may wait instead
                both_looked.wait()
            return real(db, ref, visible, listed=listed)
        bot.deps.changes.policies.find_policy = find  # type: ignore[method-assign]

    def click(bot: Bot, user: str) -> None:
        body = bot.click_body(REVERT_OUTSIDE, notice, user=user, channel=AUDIT, message=posted)
        start.wait()
        bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))

    threads = [threading.Thread(target=click, args=(approvals_bot, BOB)),
               threading.Thread(target=click, args=(second_instance, ALICE))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert approvals_bot.executor.wait_idle(60) and second_instance.executor.wait_idle(60)
    reverts = [r for r in approvals_bot.deps.store.requests([RequestState.PENDING])
               if r.reason and r.reason.startswith("revert of a change made outside the bot")]
    assert len(reverts) == 1, f"two Revert clicks on two instances made {len(reverts)} pending reverts"
    [revert] = reverts
    told = [e.text for e in approvals_bot.slack.events if e.kind == "response" and "already asked" in e.text]
    assert len(told) == 1 and revert.id[:8] in told[0], "the second click is told which request is open"


def test_a_revert_the_upgrade_cancels_is_shown_cancelled_and_its_requester_told(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Before migration 10 two clicks (two instances) could ask two reverts of one change; the upgrade cancels all
    but one. The cancelled one's message still offers Approve, Reject and Cancel, and alice, who asked it, is
    never told it was cancelled: a request ended with no final state shown anywhere but the audit trail."""
    store = approvals_bot.deps.store
    applied = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(applied), user=CAROL, message=applied)
    # The database as the version before migration 10 left it: no index, and two open reverts of one change.
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ux_open_revert"))
        migrations.stamp(conn, 9)
    revert = request_id_of_revert(approvals_bot, applied)
    approvals_bot.slack.events.clear()
    approvals_bot.click(REVERT, revert, user=BOB, message=applied)
    approvals_bot.deps.changes._open_revert = lambda *_: None  # type: ignore[method-assign]  # as before the fix
    approvals_bot.click(REVERT, revert, user=ALICE, message=applied)
    posted = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
              and e.channel == "C0DBAOPS01"]
    assert len(posted) == 2
    told_before = len(direct_messages(approvals_bot, ALICE))
    store.migrate()  # the upgrade
    sweep(approvals_bot)  # and the sweep that follows
    [cancelled] = [r for r in store.requests([RequestState.CANCELLED]) if r.revert_of == request_id(applied)]
    [message] = [m for m in posted if request_id(m) == cancelled.id]
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    assert APPROVE not in str(shown[-1].blocks), "the cancelled revert's message still offers Approve"
    assert cancelled.requester == ALICE  # the newer of the two
    assert len(direct_messages(approvals_bot, ALICE)) > told_before, "its requester was never told"


def request_id_of_revert(bot: Bot, message: Any) -> str:
    shown = [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    for block in shown[-1].blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == REVERT:
                return str(element["value"])
    raise AssertionError("no Revert button")


def test_the_upgrade_holds_with_two_reverts_of_one_change_left_applying(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """An older version could leave two requests applying on one policy (the claim says so: "two left applying
    by an older version must both settle"); when both are reverts of one change, the upgrade to migration 10
    fails and no instance starts until someone edits the database by hand."""
    store = approvals_bot.deps.store
    applied = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(applied), user=CAROL, message=applied)
    revert = request_id_of_revert(approvals_bot, applied)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ux_open_revert"))
        migrations.stamp(conn, 9)
    approvals_bot.click(REVERT, revert, user=BOB, message=applied)
    approvals_bot.deps.changes._open_revert = lambda *_: None  # type: ignore[method-assign]  # as before the fix
    approvals_bot.click(REVERT, revert, user=ALICE, message=applied)
    # Both left applying by a crash of the older version.
    with store.engine.begin() as conn:
        assert conn.execute(sa.text("UPDATE change_requests SET state = 'applying' WHERE revert_of = :r"),
                            {"r": request_id(applied)}).rowcount == 2
    store.migrate()  # the upgrade
    assert store.version() == migrations.head()
    sweep(approvals_bot)  # both still settle (no PATCH was sent: judged again, they wait for approvals)
    reverts = [r for r in store.requests(list(RequestState), limit=None)
               if r.reason and r.reason.startswith("revert of the change")]
    assert len(reverts) == 2 and all(r.state is RequestState.PENDING for r in reverts), [r.state for r in reverts]


def test_a_request_expired_while_slack_refused_is_shown_expired_by_a_later_sweep(approvals_bot: Bot) -> None:
    """alice's request expires during a sweep while Slack answers errors for a moment: its message keeps its
    Approve, Reject and Cancel buttons, its thread and alice hear nothing, and later sweeps (Slack fine again)
    never say it, whereas a refused reject or approve is said by the next step."""
    message = ask(approvals_bot)
    with approvals_bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE change_requests SET expires_at = 0"))
    for method in ("chat.update", "chat.postMessage"):
        approvals_bot.slack.add_fault(MethodFault(method, error="internal_error", times=None))
    sweep(approvals_bot)
    approvals_bot.slack.faults.clear()
    expired = approvals_bot.deps.store.get_request(request_id(message))
    assert expired is not None and expired.state is RequestState.EXPIRED
    sweep(approvals_bot)
    sweep(approvals_bot)
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    assert APPROVE not in str(shown[-1].blocks), "the expired request's message still offers Approve"
    assert thread_of(approvals_bot, message) and direct_messages(approvals_bot, ALICE), "nor is it told"


def test_a_change_the_sweep_applied_while_slack_refused_reaches_its_message_and_the_audit_channel(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves alice's change while PlanetScale cannot be read: it waits, approved, for the sweep. The
    sweep applies it (the PATCH lands) while Slack answers errors for a moment; later sweeps never show it: the
    message keeps Approve, alice is not told, and the audit channel never gets the applied change."""
    approvals_bot.deps.audit_channel = "C0RANDOM01"
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    planetscale.add_fault(Fault(status=503, method="GET", times=None))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    planetscale.faults.clear()
    waiting = approvals_bot.deps.store.get_request(request_id(message))
    assert waiting is not None and waiting.state is RequestState.APPROVED and planetscale.calls("PATCH") == []
    with approvals_bot.deps.store.engine.begin() as conn:  # a minute later
        conn.execute(sa.text("UPDATE change_requests SET updated_at = updated_at - 120"))
    for method in ("chat.update", "chat.postMessage"):
        approvals_bot.slack.add_fault(MethodFault(method, error="internal_error", times=None))
    sweep(approvals_bot)
    approvals_bot.slack.faults.clear()
    applied = approvals_bot.deps.store.get_request(request_id(message))
    assert applied is not None and applied.state is RequestState.APPLIED and len(planetscale.calls("PATCH")) == 1
    sweep(approvals_bot)
    sweep(approvals_bot)
    audit = [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == "C0RANDOM01"]
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    assert len(audit) == 1, "the audit channel never gets the applied change"
    assert APPROVE not in str(shown[-1].blocks), "the applied change's message still offers Approve"
    assert direct_messages(approvals_bot, ALICE), "alice is never told"


def test_an_approved_request_waiting_for_the_sweep_no_longer_shows_approve_buttons(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol's approval completes alice's request while PlanetScale cannot be read: the request is approved and
    waits for the sweep, but its message still reads as pending, with Approve, Reject and Cancel (each click on
    them only says "already approved") and its expiry time, which no longer applies."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    planetscale.add_fault(Fault(status=503, method="GET", times=None))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    planetscale.faults.clear()
    waiting = approvals_bot.deps.store.get_request(request_id(message))
    assert waiting is not None and waiting.state is RequestState.APPROVED
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    assert APPROVE not in str(shown[-1].blocks), "an approved request's message still offers Approve"
    assert "Queued:" in str(shown[-1].blocks) and "Expires" not in str(shown[-1].blocks)
    with approvals_bot.deps.store.engine.begin() as conn:  # a minute later, the sweep applies it and shows it
        conn.execute(sa.text("UPDATE change_requests SET updated_at = updated_at - 120"))
    sweep(approvals_bot)
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    assert shown[-1].text.startswith(":white_check_mark:") and "Queued:" not in str(shown[-1].blocks)

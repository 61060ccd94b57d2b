"""Leases and a request's life, for bulk changes and single ones: a bulk change held to the storage guardrail as
the same change alone, claims under the policy's and the database's leases, a deletion keeping its lease until
known landed, approvals after a cancel or past a request's life, bulk members applied by the sweep told, Retry
clicked twice, and a worker paused past its lease sending nothing. Driven through Bolt's pipeline with the
emulators."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import httpx
import sqlalchemy as sa
from access_rules import admin_asks, guardrail
from approval_helpers import (
    ALICE,
    BOB,
    CAROL,
    RULES,
    approvals_bot,
    request_id,
    request_message,
    second_instance,
    swept_later,
)
from bulk_helpers import button
from conftest import Bot

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.store import database_url
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

CHANNEL = "C0DBAOPS01"
RANDOM = "C0RANDOM01"
WEEKLY = "bp02prodwk"  # production, weekly, kept 4 weeks
DEV = "bp03devday"  # development, daily


def sweep(bot: Bot) -> None:
    """One sweep as `serve` wires it: the bulk changes' reporter, the late posts and the bulk changes' own steps."""
    from bot.runtime.sweeper import Sweeper
    from handlers.asked import post_unposted
    from handlers.bulk_posting import sweep_batches, sweep_reporter

    Sweeper(bot.deps.changes, sweep_reporter(bot.deps, bot.app.client),
            late_posts=partial(post_unposted, bot.deps, bot.app.client),
            batches=partial(sweep_batches, bot.deps, bot.app.client)).sweep()


def test_a_bulk_change_is_held_to_the_storage_guardrail_as_the_same_change_asked_alone_is(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """`max_storage = "6GB"` on production refuses `retention=8w` for the weekly policy (about 10 GB kept). The
    same change asked as a bulk change (a policy glob) is judged with no storage basis at any stage (asked,
    approved, applied): it is listed as meeting every guardrail and, once approved, sent."""
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "6GB"
""")
    alone = approvals_bot.command(f"update acme/app-db {WEEKLY} retention=8w", user=ALICE)
    assert "at most 6.0 GB allowed" in alone.all_text()  # refused when asked alone
    approvals_bot.command('update acme/app-db "Production w*" retention=8w', user=ALICE)
    posted = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
              and e.channel == CHANNEL and any(el.get("action_id") == BULK_APPROVE for b in e.blocks
                                               for el in b.get("elements", []))]
    if posted:  # asked: an approver approves it
        approvals_bot.click(BULK_APPROVE, button(posted[0], BULK_APPROVE), user=CAROL, message=posted[0])
    weekly = planetscale.policies[("acme", "app-db")][WEEKLY]
    assert planetscale.calls("PATCH") == [], \
        f"the storage guardrail refuses it alone, and as a bulk change it is sent: {weekly['retention_value']} " \
        f"{weekly['retention_unit']}"


def test_a_change_claimed_under_the_policys_lease_while_a_move_of_the_policy_is_being_claimed_is_not_sent(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState, store_url: str) -> None:
    """alice's move of the development policy to production is approved by carol on one instance; as its claim
    (the database's lease, `…/+`) checks that nothing else is applying on the policy and before it commits, bob's
    `retention=9d` in #random (development: no approval) is claimed on a second instance under the policy's own
    lease (`…/bp03devday`), whose same check does not see the uncommitted move. Both apply at once: bob's is judged
    on the policy as development and its PATCH lands after the move's, on a production policy, from a channel
    where production is off limits, with no approval."""
    approvals_bot.command(f'update acme/app-db {DEV} target=production reason="promote"', user=ALICE)
    move = request_message(approvals_bot)
    move_id = request_id(move)
    engine = sa.create_engine(database_url(store_url))
    holder = engine.connect()
    with engine.begin() as conn:  # the move's claim waits, once past its check, until the test lets it commit
        conn.exec_driver_sql(f"""
CREATE FUNCTION r19d_hold() RETURNS trigger AS $$ BEGIN
  IF NEW.id = '{move_id}' AND NEW.state = 'applying' AND OLD.state = 'approved' THEN
    PERFORM pg_advisory_xact_lock(4242);
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql""")
        conn.exec_driver_sql("CREATE TRIGGER r19d_hold BEFORE UPDATE ON change_requests FOR EACH ROW "
                             "EXECUTE FUNCTION r19d_hold()")
    holder.exec_driver_sql("SELECT pg_advisory_lock(4242)")
    bobs_patch = threading.Event()
    held = planetscale.add_fault(Fault(method="PATCH", path_contains=DEV, until=bobs_patch, times=1))
    threads = [threading.Thread(target=approvals_bot.click, args=(APPROVE, move_id),
                                kwargs={"user": CAROL, "message": move})]
    try:
        threads[0].start()
        deadline = time.monotonic() + 60
        while not holder.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                         "AND NOT granted").scalar():
            assert time.monotonic() < deadline, "the move's claim never reached its commit"
            time.sleep(0.05)
        threads.append(threading.Thread(target=second_instance.command,
                                        args=(f"update acme/app-db {DEV} retention=9d",),
                                        kwargs={"user": BOB, "channel": RANDOM}))
        threads[1].start()
        # bob's PATCH, if his change is claimed beside the move; within the 5 s the held claim may wait on the
        # test's lock (the store's lock_timeout), or the move itself fails
        deadline = time.monotonic() + 2
        while not planetscale.calls("PATCH") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        if not planetscale.calls("PATCH"):
            # bob's PATCH was not sent beside the move: the move's own is not held (a PATCH is never resent
            # after its answer times out, so a held one would land only when the test lets it)
            held.times = 0
        holder.exec_driver_sql("SELECT pg_advisory_unlock(4242)")
        holder.commit()
        holder.close()
    def policy() -> dict[str, object]:
        return planetscale.policies[("acme", "app-db")][DEV]

    deadline = time.monotonic() + 60  # the move's PATCH lands while bob's, if sent, is held
    while policy()["target"] != "production" and threads[0].is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    moved_first = policy()["target"] == "production" and policy()["retention_value"] != 9
    bobs_patch.set()
    for thread in threads:
        thread.join(60)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER r19d_hold ON change_requests")
    engine.dispose()
    bobs = [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.requester == BOB]
    assert moved_first, "the move was not applied before bob's PATCH was let through"
    assert policy()["retention_value"] != 9, \
        f"bob's change from #random, judged on the policy as development, landed on it as production with no " \
        f"approval ({[(r.state.value, r.detail) for r in bobs]})"


DEV_FLOOR = RULES.format(approvals=1) + guardrail("development", min_policies=2)


def test_a_deletion_whose_answer_is_lost_keeps_the_databases_lease_until_it_is_known_to_have_landed(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Three development policies, at least two required. alice deletes one; PlanetScale holds the DELETE
    longer than the bot waits, then carries it out. The bot, not knowing yet, gives the database's lease back
    (the request stays applying, which only bars changes to the same policy). bob deletes a second one: judged
    on the three still listed, it is sent at once; then the first DELETE lands, and one development policy is
    left where the guardrail asks for two."""
    approvals_bot.use_rules(DEV_FLOOR)
    planetscale.add_policy("acme", "app-db", "bp10devx", name="Dev extra", target="development")
    planetscale.add_policy("acme", "app-db", "bp11devy", name="Dev other", target="development")
    changes = approvals_bot.deps.changes
    real: Any = changes.planetscale
    quick = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, real.base_url, timeout=httpx.Timeout(0.3),
                              retry=RetryPolicy(attempts=1), sleep=lambda _: None)
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, method="DELETE", path_contains="bp10devx", times=None))
    changes.planetscale = quick
    try:
        approvals_bot.command("delete acme/app-db bp10devx", user=ALICE)
        approvals_bot.command("delete acme/app-db bp11devy", user=BOB)
    finally:
        changes.planetscale = real
        held.set()
        deadline = time.monotonic() + 60
        while "bp10devx" in planetscale.policies[("acme", "app-db")] and time.monotonic() < deadline:
            time.sleep(0.02)
        quick.close()
    left = [p for p in planetscale.policies[("acme", "app-db")].values() if p["target"] == "development"]
    states = [(r.policy_id, r.state.value) for r in approvals_bot.deps.store.requests(list(RequestState))]
    assert len(left) >= 2, f"{len(left)} development policy left, at least 2 required ({states})"


def _batch_message(bot: Bot) -> SlackEvent:
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None and e.channel == CHANNEL
                 and any(el.get("action_id") == BULK_APPROVE for b in e.blocks for el in b.get("elements", []))]
    return message


def test_an_approval_that_lands_after_a_bulk_change_was_cancelled_is_not_counted_on_it(approvals_bot: Bot) -> None:
    """carol clicks Approve on alice's bulk change as alice cancels it: carol's click found it pending, alice's
    cancel lands first. The bulk change is cancelled (right), yet carol's approval is stored on it and its message
    then reads "Approvals: 1 of 1 (<@carol>)" under "cancelled" (requests check this in the same write)."""
    approvals_bot.command('update acme/app-db "Production w*" retention=5w', user=ALICE)
    message = _batch_message(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    store = approvals_bot.deps.store
    real_add = store.add_batch_approval

    def cancelled_first(batch_id: str, approver: str, records: Sequence[AuditEvent] = ()) -> list[str] | None:
        approvals_bot.deps.bulk.cancel(batch_id, ALICE)  # alice's click, landing between carol's steps
        return real_add(batch_id, approver, records)

    store.add_batch_approval = cancelled_first  # type: ignore[method-assign]
    try:
        approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    finally:
        store.add_batch_approval = real_add  # type: ignore[method-assign]
    batch = store.get_batch(batch_id)
    assert batch is not None and batch.state.value == "cancelled"
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts
             and e.kind in ("message", "update")][-1]
    assert CAROL not in json.dumps(shown.blocks), "the cancelled bulk change's message counts carol's approval"
    assert store.batch_approvers(batch_id) == [], "an approval is stored on a bulk change already cancelled"


def test_a_bulk_member_applied_later_by_the_sweep_reaches_the_audit_channel_and_its_requester(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's earlier change to the development policy went unconfirmed (PlanetScale held its PATCH), so the
    policy waits for the sweep. bob's bulk change over development policies (no approval needed) is applied
    policy by policy: this one is queued. The bulk change is "finished" at once: its outcomes in the thread,
    bob's DM and the audit channel each say it is still in progress, and each is claimed. The sweep applies the
    member a minute later; the audit channel, the thread and bob never hear it."""
    audit = "C0DBAOPS01"
    approvals_bot.deps.audit_channel = audit
    changes = approvals_bot.deps.changes
    real: Any = changes.planetscale
    quick = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, real.base_url, timeout=httpx.Timeout(0.3),
                              retry=RetryPolicy(attempts=1), sleep=lambda _: None)
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, method="PATCH", times=1))
    changes.planetscale = quick
    try:
        approvals_bot.command(f"update acme/app-db {DEV} at=05:00", user=ALICE, channel=RANDOM)
    finally:
        changes.planetscale = real
        held.set()
        deadline = time.monotonic() + 60
        while planetscale.policies[("acme", "app-db")][DEV]["schedule_time"] != "05:00" and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        quick.close()
    approvals_bot.command('update acme/app-db "Development d*" retention=9d', user=BOB, channel=RANDOM)
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] != 9  # queued behind alice's
    swept_later(approvals_bot)
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] == 9  # the sweep applied it

    def said(channel: str) -> str:
        return "\n".join(e.text + json.dumps(e.blocks) for e in approvals_bot.slack.events
                         if e.kind == "message" and e.channel == channel)

    assert "Applied to 1 of 1" in said(audit), "the audit channel never hears that the bulk change was applied"
    assert "Applied to 1 of 1" in said(approvals_bot.slack.dm_channel(BOB)), "bob never hears it was applied"


# Production changes need one approval, asked by a PlanetScale admin.
ROLE_PROD_RULES = admin_asks(1)


def test_a_fully_approved_bulk_change_whose_judging_could_not_tell_is_not_left_to_expire(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves alice's bulk change while PlanetScale's member list cannot be read for a moment (alice's
    admin role cannot be checked): nothing is sent, her approval is kept (right). PlanetScale answers again a
    minute later, but nothing judges the bulk change again (the sweep does so for a request, since review r19c):
    with every approval it needs, it expires."""
    approvals_bot.use_rules(ROLE_PROD_RULES)
    approvals_bot.command('update acme/app-db "Production w*" retention=5w', user=ALICE)
    message = _batch_message(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    planetscale.add_fault(Fault(status=503, path_contains="/members", times=None))
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    planetscale.faults.clear()
    assert planetscale.calls("PATCH") == []
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None
    now = [batch.created_at]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    for hours in (1, 12, 12):
        now[0] += hours * 3600
        sweep(approvals_bot)
    latest = approvals_bot.deps.store.get_batch(batch_id)
    assert latest is not None and latest.state.value != "expired", \
        "a bulk change with every approval it needs expired, never judged again"


def test_two_retry_clicks_on_a_bulk_change_ask_its_failed_policies_again_once(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """PlanetScale refuses the PATCH of alice's approved bulk change; its message offers Retry. alice clicks it
    twice (a double click): two bulk changes of the same policy are
    asked and wait side by side, each to be approved (a Revert clicked twice gets the one already asked)."""
    approvals_bot.command('update acme/app-db "Production w*" retention=5w', user=ALICE)
    message = _batch_message(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    planetscale.add_fault(Fault(status=403, method="PATCH", times=None))
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    planetscale.faults.clear()
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts
             and e.kind in ("message", "update")][-1]
    retry = button(shown, BULK_RETRY)
    for _ in range(2):
        approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown)
    again = [b for b in approvals_bot.deps.store.open_batches() if b.retry_of == batch_id]
    assert len(again) == 1, f"two Retry clicks asked the same failed policies {len(again)} times"


def test_a_bulk_changes_progress_counts_only_the_approvals_that_still_count(approvals_bot: Bot) -> None:
    """alice's bulk change needs two approvals; carol gives one, then the access file names other approvers.
    lead2 approves: one approval counts and the bulk change waits (right), yet its message reads "Approvals: 2 of
    2" with carol among them (a request's message counts only the approvals that still count)."""
    approvals_bot.use_rules(RULES.format(approvals=2))
    approvals_bot.command('update acme/app-db "Production w*" retention=5w', user=ALICE)
    message = _batch_message(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    approvals_bot.use_rules(RULES.format(approvals=2).replace('approvers = ["@dba-leads"]',
                                                              'approvers = ["U0LEAD0002", "U0LEAD0003"]'))
    reply = approvals_bot.click(BULK_APPROVE, batch_id, user="U0LEAD0002", message=message)
    assert "1 more approval" in reply.all_text()  # carol's no longer counts: still waiting
    shown = [e for e in approvals_bot.slack.events if e.ts == message.ts
             and e.kind in ("message", "update")][-1]
    assert "2 of 2" not in json.dumps(shown.blocks), "the message counts an approval that no longer counts"


def test_an_approval_whose_click_outlives_the_requests_life_does_not_apply_it(approvals_bot: Bot) -> None:
    """carol clicks Approve a moment before alice's request expires; her click's look-ups (the user groups, the
    roles) take a while, and the request's life ends before her approval is written. Nothing checks the life
    again: the expired request is approved and sent. (The sweep expiring it first would have closed it.)"""
    approvals_bot.command(f"update acme/app-db {WEEKLY} retention=5w", user=ALICE)
    message = request_message(approvals_bot)
    rid = request_id(message)
    store = approvals_bot.deps.store
    request = store.get_request(rid)
    assert request is not None
    now = [request.expires_at - 1]
    approvals_bot.deps.changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    real_add = store.add_approval

    def slow(request_id: str, approver: str, record: AuditEvent | None = None) -> list[str] | None:
        now[0] += 5  # the click's look-ups took five seconds: the request's life is over
        return real_add(request_id, approver, record=record)

    store.add_approval = slow  # type: ignore[method-assign]
    try:
        approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    finally:
        store.add_approval = real_add  # type: ignore[method-assign]
    latest = store.get_request(rid)
    assert latest is not None and latest.state is not RequestState.APPLIED, \
        f"applied {now[0] - request.expires_at:.0f} s after its request expired"


def test_an_approval_written_in_the_requests_life_and_judged_after_it_does_not_apply_it(approvals_bot: Bot) -> None:
    """carol's approval is written a moment before alice's request expires; judging it (the user groups, the
    roles) takes a while, and the request's life ends before it is approved: the move to approved checks the
    life in the same write, and the request is closed as expired, with nothing sent."""
    approvals_bot.command(f"update acme/app-db {WEEKLY} retention=5w", user=ALICE)
    message = request_message(approvals_bot)
    rid = request_id(message)
    store = approvals_bot.deps.store
    request = store.get_request(rid)
    assert request is not None
    now = [request.expires_at - 1]
    approvals_bot.deps.changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    real_add = store.add_approval

    def judged_slowly(request_id: str, approver: str, record: AuditEvent | None = None) -> list[str] | None:
        added = real_add(request_id, approver, record=record)
        now[0] += 5  # judging took five seconds: the request's life is over
        return added

    store.add_approval = judged_slowly  # type: ignore[method-assign]
    try:
        reply = approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    finally:
        store.add_approval = real_add  # type: ignore[method-assign]
    latest = store.get_request(rid)
    assert latest is not None
    assert latest.state is RequestState.EXPIRED, f"{latest.state.value} after its life ended"
    assert "expired" in reply.all_text()


def test_a_change_needing_no_approval_queued_past_its_requests_life_is_not_sent(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's change to the development policy goes unconfirmed (PlanetScale holds its PATCH), so the policy
    waits for the sweep; bob's `retention=9d` (no approval needed) is queued behind it. The sweep comes round two
    days later, past the 24 h life of bob's request: it settles alice's and closes bob's, sending nothing."""
    changes = approvals_bot.deps.changes
    real: Any = changes.planetscale
    quick = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, real.base_url, timeout=httpx.Timeout(0.3),
                              retry=RetryPolicy(attempts=1), sleep=lambda _: None)
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, method="PATCH", times=1))
    changes.planetscale = quick
    try:
        approvals_bot.command(f"update acme/app-db {DEV} at=05:00", user=ALICE, channel=RANDOM)
    finally:
        changes.planetscale = real
        held.set()
        deadline = time.monotonic() + 60
        while planetscale.policies[("acme", "app-db")][DEV]["schedule_time"] != "05:00" and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        quick.close()
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] != 9  # queued behind alice's
    later = time.time() + 2 * 86400
    changes.clock = lambda: later
    approvals_bot.deps.store.clock = lambda: later
    sweep(approvals_bot)
    states = {r.requester: r.state for r in approvals_bot.deps.store.requests(list(RequestState))}
    assert states[ALICE] is RequestState.APPLIED  # settled by reading
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] != 9, \
        "bob's change was sent a day after its request's life ended"
    assert states[BOB] is RequestState.FAILED


def test_a_worker_paused_past_its_lease_before_recording_its_sending_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's change (no approval needed) is claimed and judged; its worker finds enough lease left to send, then
    stalls (a paused process) past the lease before writing that it is sending. The sweep takes the request over
    and applies it. The worker wakes and, unless the write that marks it sending checks who holds the lease,
    sends the PATCH a second time."""
    store = approvals_bot.deps.store
    changes = approvals_bot.deps.changes
    real_record, real_renew = store.record, store.renew
    stalled: list[AuditEvent] = []

    def stall_before(event: AuditEvent | None) -> None:
        if event is None or event.action != "sending" or stalled:
            return
        stalled.append(event)
        later = time.time() + changes.lease_seconds + 60  # the worker slept past its lease
        changes.clock = lambda: later
        store.clock = lambda: later
        changes.recover()  # the sweep takes the request over

    def record(event: AuditEvent) -> None:
        stall_before(event)
        real_record(event)

    def renew(claim: Any, lease_seconds: float, record: AuditEvent | None = None) -> bool:
        stall_before(record)
        return real_renew(claim, lease_seconds, record=record)

    store.record = record  # type: ignore[method-assign]
    store.renew = renew  # type: ignore[method-assign]
    try:
        approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE, channel=RANDOM)
    finally:
        store.record = real_record  # type: ignore[method-assign]
        store.renew = real_renew  # type: ignore[method-assign]
    assert stalled, "the worker never recorded its sending"
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] == 9  # the sweep applied it
    assert len(planetscale.calls("PATCH")) == 1, "the worker that outlived its lease sent the PATCH again"

"""The asking door's derived IDs and its lease: a change, or a bulk change, redone while its first run stalled is
sent once and recorded as it landed, never approved or sent by the run that did not store it; a change whose
judging outlives its asking lease is not sent onto a policy moved meanwhile. Driven through Bolt's pipeline with
the emulators."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from approval_helpers import ALICE, BOB, CAROL, approvals_bot, request_id, sweep
from conftest import Bot
from test_inbox import ASKING, PROD, Instances, acked, instances, keeper_of
from test_one_judge import MOVE_RULES, RANDOM, dispatch

from bot.adapters.schema import change_batches
from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "instances"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_change_redone_while_its_first_run_stalled_is_sent_once_and_recorded_as_it_landed(
        instances: Instances, planetscale: PlanetScaleState) -> None:
    """alice's retention=9d needs no approval. Her first instance takes the policy's lease, reads and judges it,
    and stalls before storing it (long enough for the inbox to hand her command to another instance). The other
    instance redoes the work: the lease is held, so it stores the request (its ID derived from the command) as
    approved and leaves it to the sweep. The first instance then wakes: its store finds that row, and it must not
    send under a request it did not store, which stays approved (not applying) under its PATCH: it is recorded
    neither applied nor sent, and the sweep, finding the policy already at 9 days, closes it failed with "the
    policy changed in PlanetScale since the request. Nothing was sent" though the bot's own PATCH put it there."""
    stalled, redoing = instances.start(), instances.start()
    judged, go_on, now = stalled_before_storing(stalled, redoing)
    changes = redoing.deps.changes
    assert acked(stalled, stalled.command_body(f"update acme/app-db {PROD} retention=9d")) == 200
    assert judged.wait(60)
    keeper_of(redoing, LEASE_SECONDS + 1).step()
    assert redoing.executor.wait_idle(timeout=60)
    [queued] = redoing.deps.store.requests([RequestState.APPROVED])
    go_on.set()
    assert stalled.executor.wait_idle(timeout=60)
    now[0] += changes.lease_seconds + 61
    sweep(redoing)
    patches = [c.body for c in planetscale.calls("PATCH")]
    latest = redoing.deps.store.get_request(queued.id)
    assert latest is not None
    assert patches == [{"retention_value": 9, "retention_unit": "day"}]
    assert latest.state is RequestState.APPLIED, \
        f"PlanetScale holds alice's change, sent once by the bot; its request is {latest.state}: {latest.detail}"


def test_a_bulk_change_redone_while_its_first_run_stalled_is_not_approved_by_the_run_that_did_not_store_it(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    """alice asks a bulk change of two production policies. Her first instance, on the access file before its
    rollout (no approval asked), plans it and stalls before storing it. The inbox hands her command to another
    instance, on the file as rolled out (one approval from @dba-leads): it stores the bulk change pending and
    posts it for approval. The first instance wakes, finds the row its ID was derived for, and goes on with its
    own plan as if it had stored it: it approves the pending bulk change in alice's name, with no approval, while
    its message in #db-ops waits for one."""
    for n in (1, 2):
        planetscale.add_database("acme", f"shop-{n:02d}")
        planetscale.add_policy("acme", f"shop-{n:02d}", f"shop-{n:02d}-prod", name="Production daily",
                               target="production")
    stalled, redoing = instances.start(), instances.start(rules=ASKING)
    store = stalled.deps.store
    real_add = store.add_batch
    planned, go_on = threading.Event(), threading.Event()

    def add_batch(*args: Any, **kwargs: Any) -> Any:
        planned.set()
        go_on.wait(30)
        return real_add(*args, **kwargs)

    store.add_batch = add_batch  # type: ignore[method-assign]
    assert acked(stalled, stalled.command_body(
        'update acme/shop-* * --where target=production retention=14d reason="audit"')) == 200
    assert planned.wait(60)
    keeper_of(redoing, LEASE_SECONDS + 1).step()
    assert redoing.executor.wait_idle(timeout=60)
    [posted] = [e for e in slack.events if e.kind == "message" and e.thread_ts is None and e.channel in slack.channels]
    go_on.set()
    assert stalled.executor.wait_idle(timeout=60)
    with redoing.deps.store.engine.connect() as conn:
        [batch_id] = conn.scalars(sa.select(change_batches.c.id)).all()
    batch = redoing.deps.store.get_batch(batch_id)
    assert batch is not None
    sent = [c.body for c in planetscale.calls("PATCH")]
    assert batch.state is BatchState.PENDING and sent == [], \
        f"the bulk change posted for approval in {posted.channel} is {batch.state.value}, decided by " \
        f"{batch.decided_by} with no approval; PATCHes sent: {sent}"


def test_a_change_redone_while_its_first_run_stalled_is_not_sent_under_the_request_waiting_for_approval(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    """As above, with the instances' access files apart (a rollout): the first instance, on the file before it
    (no approval), judges alice's retention=9d under the policy's lease and stalls before storing it; the other,
    on the file as rolled out (one approval), stores the request pending and posts it for approval. The first
    instance wakes: it sends nothing under the request that waits, in #db-ops, for an approval."""
    stalled, redoing = instances.start(), instances.start(rules=ASKING)
    judged, go_on, _ = stalled_before_storing(stalled, redoing)
    assert acked(stalled, stalled.command_body(f"update acme/app-db {PROD} retention=9d")) == 200
    assert judged.wait(60)
    keeper_of(redoing, LEASE_SECONDS + 1).step()
    assert redoing.executor.wait_idle(timeout=60)
    [waiting] = redoing.deps.store.requests([RequestState.PENDING])
    assert waiting.message_ts is not None  # posted for approval
    go_on.set()
    assert stalled.executor.wait_idle(timeout=60)
    latest = redoing.deps.store.get_request(waiting.id)
    assert latest is not None
    assert planetscale.calls("PATCH") == [] and latest.state is RequestState.PENDING, \
        f"alice's change was sent under her request waiting for approval ({latest.state})"


def test_a_change_whose_judging_outlives_its_asking_lease_is_not_sent_onto_a_policy_moved_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """bob asks retention=9d on a development policy from #random (no approval there). His worker takes the
    policy's lease, reads the policy (development) and judges it, slowly: past the lease (a paused process, or
    look-ups at their slowest). Meanwhile carol approves alice's move of the policy to production: the move's
    claim, under the database's lease, finds the policy's lease run out and nothing stored applying on it, so it
    is sent. bob's worker then stores its change and renews its lease, which nobody took at the policy's level,
    and sends 9 days to what is now a production policy, with no approval, from a channel where production is
    off limits."""
    approvals_bot.use_rules(MOVE_RULES)
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    now = [time.time()]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    approvals_bot.command(f"update acme/app-db {DEV} target=production", user=ALICE)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == "C0DBAOPS01"]
    real_add = store.add_request
    moved: list[bool] = []

    def add_request(*args: Any, **kwargs: Any) -> Any:
        if not moved:  # bob's change, judged under its lease and not stored yet; the judging took too long
            moved.append(True)
            now[0] += changes.lease_seconds + 1
            dispatch(approvals_bot, approvals_bot.click_body(APPROVE, request_id(message), user=CAROL,
                                                             message=message))
            deadline = time.monotonic() + 60
            while not any(c.body.get("target") for c in planetscale.calls("PATCH")) \
                    and time.monotonic() < deadline:
                time.sleep(0.02)
        return real_add(*args, **kwargs)

    store.add_request = add_request  # type: ignore[method-assign]
    dispatch(approvals_bot, approvals_bot.command_body(f"update acme/app-db {DEV} retention=9d", user=BOB,
                                                       channel=RANDOM))
    assert approvals_bot.executor.wait_idle(60)
    assert moved
    patches = [c.body for c in planetscale.calls("PATCH")]
    assert patches[:1] == [{"target": "production"}], f"the move was not sent while bob's change was judged: {patches}"
    assert patches == [{"target": "production"}], \
        f"bob's change reached the production policy without approval: {patches}"
    now[0] += changes.lease_seconds + 61
    sweep(approvals_bot)  # the sweep judges bob's change again, on the policy as it is now: production
    assert [c.body for c in planetscale.calls("PATCH")] == [{"target": "production"}]
    [bobs] = [r for r in store.requests([RequestState.FAILED], limit=None) if r.requester == BOB]
    # #random handles no production policy: the move is told without naming where it went (hidden24)
    assert "moved from development to a target not handled in this channel" in (bobs.detail or ""), bobs.detail


def stalled_before_storing(stalled: Bot, redoing: Bot) -> tuple[threading.Event, threading.Event, list[float]]:
    """`stalled` stops once it has read and judged a change under the policy's lease, before storing it, until
    `go_on` is set; `judged` is set when it gets there. `redoing`'s change path runs on the clock `now` (its
    pauses move it), so a test can let the lease run out."""
    store = stalled.deps.store
    real_add = store.add_request
    judged, go_on = threading.Event(), threading.Event()

    def add_request(*args: Any, **kwargs: Any) -> Any:
        judged.set()  # read and judged under the policy's lease; not stored yet
        go_on.wait(30)
        return real_add(*args, **kwargs)

    store.add_request = add_request  # type: ignore[method-assign]
    now = [time.time()]
    changes = redoing.deps.changes
    changes.clock = lambda: now[0]

    def pause(seconds: float) -> None:
        now[0] += seconds

    changes.pause = pause
    return judged, go_on, now

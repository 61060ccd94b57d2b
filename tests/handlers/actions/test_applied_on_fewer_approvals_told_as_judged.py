"""What a request applied by the sweep on fewer approvals than it was approved with tells, and Reverts of a change
made elsewhere asked once. Driven through Bolt's pipeline with the emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from access_rules import production_asks
from approval_helpers import (
    ALICE,
    BOB,
    CAROL,
    PROD,
    RULES,
    approvals_bot,
    ask,
    latest_view,
    policy_busy,
    request_id,
    second_instance,
    sweep,
    thread_of,
)
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.ports import Unreachable
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import build_watcher
from handlers.blocks import APPROVE
from handlers.watch import REVERT_OUTSIDE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

AUDIT = "C0DBAOPS01"
DEV = "bp03devday"

LEAD2 = "U0LEAD0002"
TWO = production_asks(2)
CAROL_ONLY = production_asks(1, "U0CAROL001")


def test_a_queued_request_applied_on_fewer_approvals_is_recorded_as_the_judge_asked_it(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Production asks two approvals from @dba-leads; carol approves, then lead 2 completes them while another
    change holds the policy: queued. The rules then change: carol alone approves production, one approval. The
    sweep applies it on carol's approval alone. The record and the message must say what the judge asked when
    it applied (one approval, carol may approve), never "the last of 2 approvals" with @dba-leads as approvers,
    which the rules it was applied under no longer ask."""
    approvals_bot.use_rules(TWO)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") == []
    approvals_bot.use_rules(CAROL_ONLY)
    later = time.time() + 600
    approvals_bot.deps.changes.clock = lambda: later
    approvals_bot.deps.store.clock = lambda: later
    sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5
    applied = [t for t in thread_of(approvals_bot, message) if "Applied to PlanetScale" in t]
    assert applied == [f":white_check_mark: Applied to PlanetScale, approved by <@{CAROL}>."], applied
    assert (request.approvals_needed, request.approvers) == (1, [CAROL]), (request.approvals_needed,
                                                                           request.approvers)
    shown = latest_view(approvals_bot, message)
    assert "of 2" not in shown and "subteam" not in shown, json.loads(shown)


def test_two_revert_clicks_on_a_change_made_elsewhere_on_two_instances_make_one_request_and_one_patch(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    """The watch posts a development policy's retention changed in the dashboard, with Revert (no approval
    needed). bob's click on one instance reads the policy; alice's on the other asks, applies and closes the revert
    before bob's is stored. bob's must not become a second request of the same revert, posted as a conflict with
    what the first revert did: one request, one PATCH, and bob told it is reverted already."""
    approvals_bot.deps.audit_channel = AUDIT
    watcher = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=1)
    try:
        watcher.run_once()  # the baseline
        planetscale.dashboard_change("acme", "app-db", DEV, retention_value=1)
        _, cursor = approvals_bot.slack.events_since(0)
        watcher.run_once()
    finally:
        watcher.stop()
    events, _ = approvals_bot.slack.events_since(cursor)
    [posted] = [e for e in events if e.kind == "message" and e.text.startswith(":eyes: Changed outside the bot")]
    notice = next(e["value"] for b in posted.blocks for e in b.get("elements", [])
                  if e.get("action_id") == REVERT_OUTSIDE)
    read, reverted = threading.Event(), threading.Event()
    real = second_instance.deps.changes.policies.find_policy

    def find(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if not read.is_set():  # bob's read, before alice's revert: bob's worker then stalls until it is applied
            read.set()
            assert reverted.wait(30)
        return found

    second_instance.deps.changes.policies.find_policy = find  # type: ignore[method-assign]
    bob = threading.Thread(target=second_instance.click, args=(REVERT_OUTSIDE, notice),
                           kwargs={"user": BOB, "channel": AUDIT, "message": posted})
    bob.start()
    assert read.wait(30)
    approvals_bot.click(REVERT_OUTSIDE, notice, user=ALICE, channel=AUDIT, message=posted)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] != 1
    reverted.set()
    bob.join(60)
    assert second_instance.executor.wait_idle(60)
    assert len(planetscale.calls("PATCH")) == 1
    reverts = [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.revert_of == notice]
    assert [r.state for r in reverts] == [RequestState.APPLIED], \
        f"two Revert clicks made {[(r.requester, r.state.value, r.detail) for r in reverts]}"
    told = [e.text for e in second_instance.slack.events if e.kind == "response" and "already" in e.text]
    assert told, "bob is not told the change is reverted already"


def test_a_queued_request_applied_on_fewer_approvals_whose_patch_went_unconfirmed_is_recorded_as_judged(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """As above, but the PATCH lands and its answer is lost, and PlanetScale cannot be read for a while: the
    request stays applying, and a later sweep finds PlanetScale holding it and records it applied. That record
    must still say who decided it and what the judge asked when it sent it (carol, one approval), not lead 2 and
    "the last of 2 approvals", which the judge no longer counted when the PATCH left."""
    approvals_bot.use_rules(TWO)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    approvals_bot.use_rules(CAROL_ONLY)
    changes = approvals_bot.deps.changes
    real_client, real_find = changes.planetscale, changes.policies.find_policy
    patched: list[str] = []

    def blind_find(db: Any, ref: str, visible: Any = None, listed: Any = None) -> Any:
        if patched:  # every read after the PATCH: how it ended cannot be learned yet
            raise Unreachable("PlanetScale did not answer in time.")
        return real_find(db, ref, visible, listed)

    class Lossy:
        def worst_case_seconds(self) -> float:
            return real_client.worst_case_seconds()

        def update_policy(self, organization: str, database: str, policy_id: str, update: Any) -> Any:
            real_client.update_policy(organization, database, policy_id, update)  # it lands; the answer is lost
            patched.append(policy_id)
            raise Unreachable("PlanetScale did not answer in time: the change may or may not have been applied.")

    now = [time.time() + 600]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    changes.policies.find_policy = blind_find  # type: ignore[method-assign]
    changes.planetscale = Lossy()  # type: ignore[assignment]
    try:
        sweep(approvals_bot)
    finally:
        changes.policies.find_policy = real_find  # type: ignore[method-assign]
        changes.planetscale = real_client
    assert patched == [PROD]
    stored = approvals_bot.deps.store.get_request(request_id(message))
    assert stored is not None and stored.state is RequestState.APPLYING
    now[0] += 3600
    sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED
    assert (request.decided_by, request.approvals_needed) == (CAROL, 1), (request.decided_by,
                                                                          request.approvals_needed)
    applied = [t for t in thread_of(approvals_bot, message) if "Applied to PlanetScale" in t]
    assert applied == [f":white_check_mark: Applied to PlanetScale, approved by <@{CAROL}>."], applied


def test_a_watch_revert_only_its_asker_could_approve_is_refused_when_asked(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Held (suspicion c, through the watch's door): production's only approver is alice; she clicks Revert on a
    change made in the dashboard. She is told nobody but she could approve it, and nothing is stored or posted
    to wait for an approval that cannot come."""
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
    approvals_bot.use_rules(RULES.format(approvals=1).replace('approvers = ["@dba-leads"]\napprovals',
                                                              'approvers = ["U0ALICE001"]\napprovals'))
    reply = approvals_bot.click(REVERT_OUTSIDE, notice, user=ALICE, channel=AUDIT, message=posted)
    assert "nobody but you" in reply.all_text(), reply.all_text()
    assert approvals_bot.deps.store.requests(list(RequestState)) == []
    assert reply.public == [] and planetscale.calls("PATCH") == []

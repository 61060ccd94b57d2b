"""Review rev19h of issue "One judge, on what was read under the lease": what a request applied by the sweep on
fewer approvals than it was approved with tells, driven through Bolt's pipeline with the emulators (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

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
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import build_watcher
from handlers.blocks import APPROVE
from handlers.watch import REVERT_OUTSIDE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

AUDIT = "C0DBAOPS01"
DEV = "bp03devday"

LEAD2 = "U0LEAD0002"
TWO = """
[approvals]
expire_after = "24h"

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 2
"""
CAROL_ONLY = TWO.replace('approvers = ["@dba-leads"]\napprovals = 2', 'approvers = ["U0CAROL001"]\napprovals = 1')


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
    second_instance.use_rules(RULES.format(approvals=1))
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

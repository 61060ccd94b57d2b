"""Review rev19h of issue "One judge, on what was read under the lease": what a request applied by the sweep on
fewer approvals than it was approved with tells, driven through Bolt's pipeline with the emulators (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import time

from approval_helpers import CAROL, PROD, approvals_bot, ask, latest_view, policy_busy, request_id, sweep, thread_of
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

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

"""Issue 19, "Also seen": one judgement never mixes two versions of the access file. Where a change is asked, one
reading of the rules decides which facts are gathered (a storage bound's backups) and the verdict on them, as
approving and applying do (tests/handlers/actions/test_judged_on_what_was_read_under_the_lease.py,
test_no_approver_named_when_the_rules_ask_none.py)."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import ALICE, PROD, RULES, approvals_bot, judged_snapshots
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

STORAGE_BOUND = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "60GB"
"""


def test_a_storage_bound_added_while_a_change_is_asked_is_not_judged_on_facts_gathered_without_it(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice asks retention=3d on the 12-hourly production policy, whose backups are 20 GB each (120 GB kept).
    As the bot decides whether a storage bound asks its backups to be read (none: not read), the access file
    gains `max_storage = "60GB"`. The verdict is given on the rules that decided what was read: the judge never
    weighs a bound whose facts were not gathered; the next change asked is judged on the new file."""
    planetscale.add_backup("acme", "app-db", PROD, size=20_000_000_000)
    changes = approvals_bot.deps.changes
    real_bounded = changes.storage_bounded
    swapped: list[bool] = []

    def storage_bounded(*args: Any, **kwargs: Any) -> bool:
        bounded = real_bounded(*args, **kwargs)
        if not swapped:  # the file reloaded between deciding what to read and judging
            swapped.append(True)
            approvals_bot.use_rules(RULES.format(approvals=1) + STORAGE_BOUND)
        return bounded

    judged = judged_snapshots(monkeypatch)
    monkeypatch.setattr(changes, "storage_bounded", storage_bounded)
    reply = approvals_bot.command(f"update acme/app-db {PROD} retention=3d", user=ALICE)
    assert swapped and judged
    bounds = [g.max_storage for g in judged[-1].rules.guardrails if g.max_storage]
    assert not bounds, "judged under a storage bound whose backups were not read for it"
    assert "needs 1 approval" in reply.all_text(), reply.all_text()
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    assert planetscale.calls("PATCH") == []
    # Asked again now, under the new file: its backups are read and the bound refuses it.
    judged.clear()
    again = approvals_bot.command(f"update acme/app-db {PROD} retention=4d", user=ALICE)
    assert any(g.max_storage for g in judged[-1].rules.guardrails), "the new file was not used"
    assert "guardrail 1" in again.all_text() and "at most 60" in again.all_text(), again.all_text()
    assert approvals_bot.deps.store.requests([RequestState.PENDING]) == [request]

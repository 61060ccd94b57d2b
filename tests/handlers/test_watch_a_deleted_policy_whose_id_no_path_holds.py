"""A policy PlanetScale lists with an ID no path segment holds (past 128 characters, or holding a space or a slash)
is read, shown and watched (docs/planetscale-api.md). Deleted outside the bot, it is told as any other: the watch
asked PlanetScale for it by its ID before calling it deleted, a request no path can carry, so it logged "could
not confirm" on every pass and never told the deletion. Such a policy is confirmed gone by the list read again."""

from __future__ import annotations

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from test_watch_bad_days import just_now, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher


@pytest.mark.parametrize("policy_id", ["bp" + "x" * 3000, "bp odd/../id"])
def test_a_policy_whose_id_no_path_holds_deleted_outside_the_bot_is_told_once(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, policy_id: str) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", policy_id, name="Odd ID", created_at=just_now())
    [created] = watch_pass(bot, watcher)
    assert created.startswith(":new:"), created
    with planetscale.lock:
        del planetscale.policies[("acme", "app-db")][policy_id]
    [deleted] = watch_pass(bot, watcher)
    assert "Odd ID" in deleted or "deleted" in deleted, deleted
    assert [e.policy_id for e in bot.audit.all() if e.action == "deleted_outside"] == [policy_id]
    assert watch_pass(bot, watcher) == []  # told once
    # A policy that is still there is never told deleted, whatever its ID: the list read again still holds it.
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", policy_id + "2", name="Odd ID 2", created_at=just_now())
    watch_pass(bot, watcher)
    assert watch_pass(bot, watcher) == []

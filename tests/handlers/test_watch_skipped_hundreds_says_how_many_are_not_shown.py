"""The watch skipping hundreds of things in one pass tells the audit channel as many as a message holds and how
many more there are, never a list cut off without a word."""

from __future__ import annotations

import json
import re

from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE

UNREADABLE = 300


def test_three_hundred_unreadable_policies_are_told_with_the_count_of_those_not_listed(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watcher.run_once()
    with planetscale.lock:
        listed = [*planetscale.policies[("acme", "app-db")].values(),
                  *({"id": f"bpodd{n:04d}", "name": 5} for n in range(UNREADABLE))]
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/app-db/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": listed})))
    result = watcher.run_once()
    assert result is not None and len(result.skipped) >= UNREADABLE
    [message] = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    shown = json.dumps(message.blocks)
    named = len(set(re.findall(r"bpodd\d{4}", shown)))
    assert 0 < named < UNREADABLE
    assert f"and {len(result.skipped) - named} more" in shown, shown[-300:]

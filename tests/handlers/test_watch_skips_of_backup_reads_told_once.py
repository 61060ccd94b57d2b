"""What a read of backups left out (a database's branches past those read, a branch PlanetScale lists unreadably)
was kept only in the passes where the policy's backups were due: forgotten in the passes between, the audit channel
heard it again each time they came due. It is kept while true, as a database skipped is, and told once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from watch_helpers import development_branches, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE


def told(bot: Bot) -> list[str]:
    return [json.dumps(e.blocks, ensure_ascii=False) for e in bot.slack.events if e.text == SKIPPED_HEADLINE]


def test_branches_left_unread_are_told_once_over_passes_whether_or_not_backups_are_due(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    development_branches(planetscale)
    start = datetime.now(UTC)
    for hours in (0, 1, 2, 30, 31, 60):  # backups due at the first pass and a day on, and not between
        watcher.watch.now = lambda hours=hours: start + timedelta(hours=hours)  # type: ignore[misc]
        watch_pass(bot, watcher)
        skipped = health_report(bot.deps, watcher).get("watch_skipped", [])
        assert any("branches are not read" in s for s in skipped), (hours, skipped)
    said = told(bot)
    assert len(said) == 1 and "branches are not read" in said[0], said

"""The watch on a branch holding thousands of a policy's backups: it reads the last week's, a few pages, not the
whole history at each run of the policy, and judges the policy on its newest backups whatever order PlanetScale
lists them in (its spec sets none; the bot reads a list up to 5,000 items)."""

from __future__ import annotations

from approval_helpers import approvals_bot as approvals_bot  # the fixture
from backup_reads import history_reads, hourly_history
from conftest import Bot
from test_watch_bad_days import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher


def test_thousands_of_backups_listed_oldest_first_are_judged_on_the_newest_within_a_few_pages(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []
    hourly_history(planetscale, oldest_first=True)  # the policy ran since: its backups are read again
    posted = watch_pass(bot, watcher)
    assert not [p for p in posted if "trouble" in p], posted  # not taken for stale on its oldest backups
    assert history_reads(planetscale) <= 3, history_reads(planetscale)

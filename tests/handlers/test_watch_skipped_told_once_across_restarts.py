"""What a watch pass skipped is told to the audit channel once, for as long as it stays skipped: not again after
a restart or when another instance takes the watch over (what was told lived only in the watcher's memory, and
each new watcher told it all again), and again once it was fixed and then skipped again."""

from __future__ import annotations

import pytest
from approval_helpers import PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from test_watch_bad_days import refusing_to_save, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher, build_watcher
from handlers.watch import SKIPPED_HEADLINE


def restarted(bot: Bot, before: Watcher) -> Watcher:
    """A new watcher, as after a restart or on another instance, taking over the watch `before` held."""
    bot.deps.store.release_watch_lease(before.holder)
    return build_watcher(bot.deps, bot.app.client, every=1)


def test_a_skipped_policy_is_told_once_across_restarts_and_again_when_it_breaks_again(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    store = bot.deps.store
    save_seen = store.save_seen
    refusing = refusing_to_save(store, PROD)
    monkeypatch.setattr(store, "save_seen", refusing)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    assert watch_pass(bot, watcher).count(SKIPPED_HEADLINE) == 1
    second = restarted(bot, watcher)
    try:
        assert SKIPPED_HEADLINE not in watch_pass(bot, second)  # still skipped, told already
        assert any(PROD in s.what for s in second.skipped)
        monkeypatch.setattr(store, "save_seen", save_seen)
        [drift] = watch_pass(bot, second)  # fixed: nothing skipped any more
        assert drift.startswith(":eyes:") and second.skipped == []
        monkeypatch.setattr(store, "save_seen", refusing)
        planetscale.dashboard_change("acme", "app-db", PROD, retention_value=2)
        third = restarted(bot, second)
        try:
            assert watch_pass(bot, third).count(SKIPPED_HEADLINE) == 1  # broken again: told again
        finally:
            third.stop()
    finally:
        second.stop()

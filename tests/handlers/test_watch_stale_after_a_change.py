"""A policy the watch found stale (no successful backup for long) is given its new span to prove itself when it
changes, so that `status` does not call it stale at once: that grace is no recovery. Through Bolt's pipeline and
the watch, on SQLite and PostgreSQL: a change by the bot (alone or in a bulk change) to a stale policy posts no
"Backups healthy again" in the audit channel while no backup has come; a successful backup then does."""

from __future__ import annotations

from approval_helpers import ALICE
from conftest import Bot
from watch_helpers import AUDIT, approvals_bot, watch_pass, watched

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher

__all__ = ["approvals_bot", "watched"]  # fixtures, used by name


def stale_side_database(bot: Bot, watcher: Watcher, planetscale: PlanetScaleState) -> None:
    """acme/side-a's development policy, made 100 days ago, has never made a backup: the watch tells it stale."""
    watch_pass(bot, watcher)  # the quiet baseline of acme/app-db and acme/billing-db
    planetscale.add_database("acme", "side-a")
    planetscale.add_policy("acme", "side-a", "side-a-dev", name="Development daily", target="development")
    posted = watch_pass(bot, watcher) + watch_pass(bot, watcher)
    assert any("side-a" in text for text in posted) and not any("healthy again" in text for text in posted), posted


def test_a_change_by_the_bot_to_a_stale_policy_is_no_recovery(watched: tuple[Bot, Watcher],
                                                              planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    stale_side_database(bot, watcher, planetscale)
    bot.command("update acme/side-a side-a-dev retention=5d", user=ALICE, channel=AUDIT)
    assert planetscale.policy("acme", "side-a", "side-a-dev")["retention_value"] == 5
    assert watch_pass(bot, watcher) == []
    planetscale.add_backup("acme", "side-a", "side-a-dev")
    [recovered] = watch_pass(bot, watcher)
    assert "healthy again" in recovered and "side-a" in recovered


def test_a_bulk_change_over_a_stale_policy_is_no_recovery(watched: tuple[Bot, Watcher],
                                                          planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    stale_side_database(bot, watcher, planetscale)
    bot.command('update acme/* "Development daily" retention=5d', user=ALICE, channel=AUDIT)
    assert planetscale.policy("acme", "side-a", "side-a-dev")["retention_value"] == 5
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 5
    assert watch_pass(bot, watcher) == []


def test_status_of_a_stale_policy_just_changed_says_no_backup_came_not_all_healthy(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    stale_side_database(bot, watcher, planetscale)
    bot.command("update acme/side-a side-a-dev retention=5d", user=ALICE, channel=AUDIT)
    shown = bot.command("status acme/side-a", user=ALICE, channel=AUDIT).all_text()
    assert "all healthy" not in shown and "1 needs attention" in shown, shown
    assert "No successful backup within" in shown and ":white_check_mark:" not in shown

"""The watch past a damaged mark of when a policy's backups are next read, or a damaged cursor (SQLite keeps any
text in a number's column): the other policies' backups of its database are still judged, the passes go on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from approval_helpers import PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from test_watch_bad_days import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.adapters.store.rows import seen_key
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher


@pytest.mark.parametrize(("column", "value"), [("due_at", "soon"), ("updated_at", 5), ("last_ran_at", 5.5)])
def test_a_damaged_backup_mark_hides_no_other_policys_failed_backup(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, column: str, value: object) -> None:
    bot, watcher = watched
    if not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps a number's column to numbers and a NOT NULL column filled")
    assert watch_pass(bot, watcher) == []
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text(f"update watch_backup_reads set {column} = :value where policy_id = :id"),
                            {"value": value, "id": PROD}).rowcount == 1
    planetscale.fail_backup("acme", "app-db", "bp03devday")
    posted = watch_pass(bot, watcher)
    assert any(p.startswith(":rotating_light:") and "Development daily" in p for p in posted), posted
    assert not watcher.skipped, watcher.skipped
    if column == "due_at":
        key = seen_key("acme", "app-db", PROD)
        assert health_report(bot.deps)["damaged_rows"] == [f"backup mark of the watch {key}"]
    assert watch_pass(bot, watcher) == []  # the mark written afresh: nothing more to tell


@pytest.mark.parametrize("position", ["acme/app-db", None])
def test_a_damaged_cursor_stops_no_pass(watched: tuple[Bot, Watcher], planetscale: PlanetScaleState,
                                        position: str | None) -> None:
    """It failed every pass as it was written back (the watch silent for good): now a new cycle starts."""
    bot, watcher = watched
    if not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps a number's column to numbers")
    assert watch_pass(bot, watcher) == []
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update watch_cursor set position = :p, cycle_started_at = 'soon'"), {"p": position})
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    assert [p for p in watch_pass(bot, watcher) if p.startswith(":eyes:")]
    assert health_report(bot.deps)["damaged_rows"] == ["watch cursor watch"]
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    assert [p for p in watch_pass(bot, watcher) if p.startswith(":eyes:")]  # written afresh: passes go on


def test_a_seen_policy_whose_time_is_damaged_is_written_afresh_and_its_drift_told_again(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    if not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps a number's column to numbers")
    assert watch_pass(bot, watcher) == []
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update watch_seen set seen_at = 'soon' where policy_id = 'bp03devday'")).rowcount
    watch_pass(bot, watcher)
    assert not watcher.skipped, watcher.skipped
    key = seen_key("acme", "app-db", "bp03devday")
    assert health_report(bot.deps)["damaged_rows"] == [f"policy seen by the watch {key}"]
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    assert [p for p in watch_pass(bot, watcher) if p.startswith(":eyes:")]

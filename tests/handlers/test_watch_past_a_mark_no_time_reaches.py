"""The watch past a mark of when a policy's backups are next read that no time reaches (Infinity, or a time far past
any the watch writes: a damaged row, on SQLite and PostgreSQL alike). Such a mark was taken as it was: the policy's
backups were never read again while its schedule and its last run stayed the same, which is exactly a policy that
stopped running, so its staleness was never told. Now the mark counts as damaged: the backups are read, the
staleness told, /healthz names the row, and the mark is written afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


@pytest.mark.parametrize("due_at", [float("inf"), float("nan"), 1e300, 4e9])
def test_a_mark_no_time_reaches_does_not_hide_a_policy_that_stopped_running(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, due_at: float) -> None:
    bot, watcher = watched
    if due_at != due_at and bot.deps.store.url.startswith("sqlite"):
        pytest.skip("SQLite stores NaN as NULL, which the NOT NULL column refuses")
    assert watch_pass(bot, watcher) == []  # the baseline, and every policy's backups read and marked
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update watch_backup_reads set due_at = :due where policy_id = :id"),
                            {"due": due_at, "id": PROD}).rowcount == 1
    # A month on, the production policy has not run since (its last run, its schedule unchanged): it is stale.
    later = datetime.now(UTC) + timedelta(days=30)
    watcher.watch.now = lambda: later
    posted = watch_pass(bot, watcher)
    assert any(p.startswith(":rotating_light:") and "*Production daily* of *acme/app-db*" in p for p in posted), posted
    key = seen_key("acme", "app-db", PROD)
    assert f"backup mark of the watch {key}" in health_report(bot.deps)["damaged_rows"]
    with bot.deps.store.engine.begin() as conn:
        written = conn.scalar(sa.text("select due_at from watch_backup_reads where policy_id = :id"), {"id": PROD})
    assert written < later.timestamp() + 2 * 86400  # written afresh

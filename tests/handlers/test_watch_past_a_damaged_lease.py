"""The watch past its lease row damaged in the database: text in its `until` (SQLite keeps any text in a number's
column, and compares it as greater than any number), or a time no lease reaches (1e308, Infinity, NaN). Such a lease
was never taken again and the watch fell silent for good: now it is counted as damaged, taken over and rewritten."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from test_watch_bad_days import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher


@damaged_times()
def test_a_damaged_watch_lease_held_by_another_is_taken_over_and_the_pass_tells_its_drift(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, until: object) -> None:
    bot, watcher = watched
    skip_unless_held(bot, until)
    assert watch_pass(bot, watcher) == []
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update watch_lease set holder = 'another-instance', until = :until"),
                            {"until": until}).rowcount == 1
    planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert [p for p in posted if p.startswith(":eyes:") and "Production daily" in p], posted
    assert health_report(bot.deps)["damaged_rows"] == ["watch lease watch"]
    with bot.deps.store.engine.begin() as conn:  # rewritten: a lease of this instance, running out in time
        holder, written = conn.execute(sa.text("select holder, until from watch_lease")).one()
    assert holder == watcher.holder
    assert isinstance(written, float)
    assert written <= bot.deps.store.clock() + watcher.lease_seconds
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    assert [p for p in watch_pass(bot, watcher) if p.startswith(":eyes:")]  # and the passes go on


def test_a_damaged_watch_lease_of_this_instance_is_counted_and_rewritten(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update watch_lease set until = :until"), {"until": float("inf")}).rowcount == 1
    planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=3)
    assert [p for p in watch_pass(bot, watcher) if p.startswith(":eyes:")]
    assert health_report(bot.deps)["damaged_rows"] == ["watch lease watch"]
    named = [r.getMessage() for r in caplog.records if "watch lease watch" in r.getMessage()]
    assert len(named) == 1 and "holds a lease time no lease reaches" in named[0], named  # not "JSON"
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("select until from watch_lease")).scalar_one() <= (
            bot.deps.store.clock() + watcher.lease_seconds)

"""What a read of backups left out (a database's branches past those read, a branch PlanetScale lists unreadably)
was kept only in the passes where the policy's backups were due: forgotten in the passes between, the audit channel
heard it again each time they came due. It is kept while true, as a database skipped is, and told once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from test_watch_skipped_told_once_across_restarts import restarted
from watch_helpers import development_branches, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.adapters.schema import watch_backup_skips
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


def test_branches_left_unread_are_told_once_across_a_restart_between_their_reads(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """What the reads left out lived in the watcher's memory: a restart in a pass where no backups were due forgot
    it, its claim as told was given back, and the audit channel heard it again at the next read. It is in the
    database now, with what the watch keeps of each policy."""
    bot, watcher = watched
    with planetscale.lock:
        for n in range(100):
            planetscale.add_branch("acme", "app-db", f"feature-{n:03d}", production=False)
    start = datetime.now(UTC)
    for hours in (0, 1, 30):  # backups due, not due after the restart, due again
        if hours == 1:
            watcher = restarted(bot, watcher)
        watcher.watch.now = lambda hours=hours: start + timedelta(hours=hours)  # type: ignore[misc]
        watch_pass(bot, watcher)
        assert any("branches are not read" in s.what + s.reason for s in watcher.skipped), (hours, watcher.skipped)
    watcher.stop()
    said = told(bot)
    assert len(said) == 1 and "branches are not read" in said[0], said


@pytest.mark.parametrize("stored", ["not json", '{"a": 1}', '[["bp01", 5, "why"]]', "[[1, 2]]"])
def test_a_damaged_row_of_what_the_reads_left_out_is_said_afresh(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, stored: str) -> None:
    bot, watcher = watched
    with planetscale.lock:
        for n in range(100):
            planetscale.add_branch("acme", "app-db", f"feature-{n:03d}", production=False)
    watch_pass(bot, watcher)
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.update(watch_backup_skips).values(skipped=stored)).rowcount == 1
    watch_pass(bot, watcher)  # no backups due: what the row said is lost, and the pass goes on
    assert "backup reads' skips of the watch acme/app-db/" in health_report(bot.deps)["damaged_rows"]
    watcher.watch.now = lambda: datetime.now(UTC) + timedelta(hours=30)  # type: ignore[misc]
    watch_pass(bot, watcher)  # read again: said afresh, and kept
    assert any("branches are not read" in s.reason for s in watcher.skipped), watcher.skipped
    with bot.deps.store.engine.connect() as conn:
        assert "branches are not read" in conn.execute(sa.select(watch_backup_skips.c.skipped)).scalar_one()


def test_a_pass_reads_what_the_reads_left_out_once_however_many_databases_it_watches(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """Each database's row was read at each pass: a pass's reads of the database grew with the databases watched.
    What the reads left out is read once a pass, for every database in it, and still kept (written only when it
    changes)."""
    bot, watcher = watched
    development_branches(planetscale)
    with planetscale.lock:
        for n in range(6):
            planetscale.add_database("acme", f"skips-{n}")
            planetscale.add_policy("acme", f"skips-{n}", f"skips-{n}-prod", name="Production daily",
                                   target="production")
    store = bot.deps.store
    reads: list[str] = []

    def counted(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and watch_backup_skips.name in statement:
            reads.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", counted)  # its readers' statements too
    try:
        for _ in range(2):
            reads.clear()
            result = watcher.run_once()
            assert result is not None and len(result.read) == 8, result
            assert len(reads) == 1, f"{len(reads)} reads of what the reads left out in one pass"
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", counted)
    assert any("branches are not read" in s.reason for s in watcher.skipped), watcher.skipped

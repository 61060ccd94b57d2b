"""A watch notice posted in the audit channel whose marking as posted the database refuses (a failing disk, a row
locked past the lock timeout): the error ended the pass's posting there, so the notices after it waited, on every
pass for as long as the database refused that one, and nothing told an operator why. Now the pass carries on with
the others, logs the notice, and /healthz says it; once the database writes again the next pass finds the notice
in the channel and marks it, without posting it twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from test_watch_bad_days import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.adapters.store.connection import database_url
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher


@contextmanager
def marking_refused(url: str, notice_id: str) -> Iterator[None]:
    """The database fails the write that marks `notice_id` posted, as a failing disk would, and that one alone."""
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        if url.startswith("sqlite"):
            # An error while running, as a failing disk gives (SQLite's RAISE is a constraint's): 2**63 overflows.
            conn.exec_driver_sql(f"CREATE TRIGGER refused BEFORE UPDATE ON watch_notices WHEN NEW.posted_at IS NOT "
                                 f"NULL AND OLD.id = '{notice_id}' BEGIN SELECT abs(-9223372036854775807 - 1); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refused() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'could not write block 7: I/O error'; END $$")
            conn.exec_driver_sql(f"CREATE TRIGGER refused BEFORE UPDATE ON watch_notices FOR EACH ROW "
                                 f"WHEN (NEW.posted_at IS NOT NULL AND OLD.id = '{notice_id}') "
                                 "EXECUTE FUNCTION refused()")
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refused" + ("" if url.startswith("sqlite") else " ON watch_notices"))
            if not url.startswith("sqlite"):
                conn.exec_driver_sql("DROP FUNCTION refused()")
        engine.dispose()


def test_a_notice_the_database_will_not_mark_posted_keeps_no_other_from_being_posted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    bot.slack.add_fault(MethodFault("chat.postMessage", status=500, times=None))
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    assert watch_pass(bot, watcher) == []  # Slack refused them: kept to post
    bot.slack.faults.clear()
    with bot.deps.store.engine.connect() as conn:
        first, _ = conn.execute(sa.text("select id from watch_notices where posted_at is null "
                                        "order by created_at")).scalars().all()
    with marking_refused(bot.deps.store.url, first), caplog.at_level(logging.ERROR):
        posted = watch_pass(bot, watcher)  # raises nothing
        assert len(posted) == 2, posted
        assert any(first in r.getMessage() for r in caplog.records), caplog.text
        said = health_report(bot.deps, watcher).get("watch_unmarked", "")
        assert "1 notice" in said and "not marked posted" in said, said
    assert watch_pass(bot, watcher) == []  # found in the channel and marked: not posted again
    assert "watch_unmarked" not in health_report(bot.deps, watcher)
    with bot.deps.store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from watch_notices where posted_at is null")).scalar() == 0

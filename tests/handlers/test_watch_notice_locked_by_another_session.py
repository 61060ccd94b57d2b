"""A watch notice whose row another session holds locked on PostgreSQL (an operator's `SELECT ... FOR UPDATE` left
open, a stuck transaction): its claim ended at the lock timeout with an error, which ended the whole pass's posting,
so the notices after it were never posted, for as long as the lock was held. Now that notice waits for the next pass
and the others are posted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from test_watch_bad_days import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.adapters.store.connection import database_url
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher


def test_a_locked_notice_keeps_no_other_from_being_posted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    if not bot.deps.store.url.startswith("postgresql"):
        pytest.skip("a lock on one row is PostgreSQL's: SQLite locks the whole file, and its writers wait their turn")
    watch_pass(bot, watcher)
    bot.slack.add_fault(MethodFault("chat.postMessage", status=500, times=None))
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    assert watch_pass(bot, watcher) == []  # Slack refused them: kept to post
    bot.slack.faults.clear()
    engine = sa.create_engine(database_url(bot.deps.store.url))
    with engine.connect() as conn, conn.begin():
        notices = conn.execute(sa.text("select id from watch_notices where posted_at is null "
                                       "order by created_at")).scalars().all()
        assert len(notices) == 2, notices
        conn.execute(sa.text("select id from watch_notices where id = :id for update"), {"id": notices[0]})
        posted = watch_pass(bot, watcher)
    engine.dispose()
    assert len(posted) == 1, posted
    assert len(watch_pass(bot, watcher)) == 1  # the lock given back: posted at the next pass
    assert watch_pass(bot, watcher) == []

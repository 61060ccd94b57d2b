"""An instance's inbox leases are renewed while its keeper is held by something slow: telling the people whose
work was given up (Slack answering slowly), or redoing work taken over from a stopped instance. Renewed in the same
step, they lapsed behind it (6 s), and another instance took over, and did again, the work this one was doing. On
SQLite and PostgreSQL; the inbox's time is the database's clock, moved on by the test (`Inbox.ahead`)."""

from __future__ import annotations

import threading
from functools import partial

import sqlalchemy as sa
from conftest import ALICE
from processes import wait_until
from test_inbox import PROD, Instances, Killed, acked, inbox_of
from test_inbox import instances as instances  # the fixture

from bot.adapters.schema import deliveries
from bot.adapters.store.inbox import database_now
from bot.runtime.app import redo
from bot.runtime.sweeper import INBOX_GIVE_UP, InboxKeeper

# Seconds the inbox's clock is moved on: half an hour and more, so the stopped instance's work is given up.
LATER = INBOX_GIVE_UP + 100


def renewed_past(instances: Instances, holder: str, ahead: float) -> bool:
    """Whether `holder`'s leases run past the database's clock moved on by `ahead` (renewed since it was)."""
    bot = instances.made[0]
    with bot.deps.store.engine.connect() as conn:
        now = conn.execute(sa.select(database_now(conn.dialect.name, sa.literal(ahead)))).scalar_one()
        leases = conn.execute(sa.select(deliveries.c.lease_until).where(
            deliveries.c.holder == holder, deliveries.c.body.is_not(None))).scalars().all()
    return bool(leases) and all(lease is not None and lease > now for lease in leases)


def test_work_under_way_is_not_taken_over_while_its_keeper_tells_a_person_through_a_slow_slack(
        instances: Instances) -> None:
    stopped = instances.start(Killed())  # its work, given up half an hour later, is told to its person
    assert acked(stopped, stopped.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    working = instances.start(Killed())  # its work never ends: under way for as long as the test runs
    inbox_of(working).ahead = LATER
    assert acked(working, working.command_body(f"update acme/app-db {PROD} retention=8d", user=ALICE)) == 200
    slack_answers = threading.Event()
    told: list[str] = []

    def slowly_told(body: str) -> None:  # Slack takes its time to answer
        told.append(body)
        slack_answers.wait(timeout=60)

    keeper = InboxKeeper(inbox_of(working), partial(redo, working.app), lost=slowly_told).start()
    try:
        wait_until(lambda: told, "the work given up was never told")
        inbox_of(working).ahead = LATER + 60  # a minute on, the person still being told
        wait_until(lambda: renewed_past(instances, inbox_of(working).holder, LATER + 60),
                   "the leases of the work under way were not renewed while its person was being told", timeout=20)
        other = inbox_of(instances.start())
        other.ahead = LATER + 60
        assert other.take_over() == []
    finally:
        slack_answers.set()
        keeper.stop(timeout=10)

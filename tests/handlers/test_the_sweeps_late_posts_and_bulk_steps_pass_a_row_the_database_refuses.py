"""The sweep's late posts (requests whose post Slack may not have made) and its bulk steps (late posts, reminders)
each ran their rows in one loop: a row whose write the database refused (a failing disk, a row locked past the
lock timeout) raised out of the loop, and every row after it waited, on every pass for as long as the database
refused that one. Now that row is logged and left for the next pass, and the others are posted and reminded.
Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, PROD, approvals_bot, request_id, sweep, swept_later
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot

from bot.adapters.store.connection import database_url
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.bulk_blocks import BULK_APPROVE
from handlers.late_post import POST_GRACE

__all__ = ["approvals_bot"]  # a fixture, used by name


@contextmanager
def notices_refused(bot: Bot, owner: str) -> Iterator[None]:
    """The database fails every write of `owner`'s notices (a request's or a bulk change's), as a failing disk
    would, and that row's alone; as before once the block ends."""
    url = bot.deps.store.url
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        if url.startswith("sqlite"):
            # An error while running, as a failing disk gives (SQLite's RAISE is a constraint's, which a claim
            # takes for one held by another): 2**63 overflows.
            for op in ("INSERT", "UPDATE"):
                conn.exec_driver_sql(f"CREATE TRIGGER refused_{op} BEFORE {op} ON request_notices "
                                     f"WHEN NEW.request_id = '{owner}' BEGIN SELECT abs(-9223372036854775807 - 1); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refused() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'could not write block 7: I/O error'; END $$")
            conn.exec_driver_sql(f"CREATE TRIGGER refused BEFORE INSERT OR UPDATE ON request_notices FOR EACH ROW "
                                 f"WHEN (NEW.request_id = '{owner}') EXECUTE FUNCTION refused()")
    try:
        yield
    finally:
        with engine.begin() as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("DROP TRIGGER refused_INSERT")
                conn.exec_driver_sql("DROP TRIGGER refused_UPDATE")
            else:
                conn.exec_driver_sql("DROP TRIGGER refused ON request_notices")
                conn.exec_driver_sql("DROP FUNCTION refused()")
        engine.dispose()


def named_in_log(caplog: pytest.LogCaptureFixture, owner: str) -> bool:
    return any(owner in r.getMessage() and r.levelno >= logging.ERROR for r in caplog.records)


def test_a_request_whose_late_post_the_database_refuses_keeps_no_other_from_its_post(
        approvals_bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    # Slack fails both posts, as it may have made them: each is owed to the sweep, looked for first.
    bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=False, times=2))
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} frequency=6h", user=ALICE)
    first, second = [r.id for r in bot.deps.store.requests([RequestState.PENDING])]
    assert channel_messages(bot) == []
    with notices_refused(bot, first), caplog.at_level(logging.ERROR):
        swept_later(bot, POST_GRACE + 1)  # raises nothing
    [message] = channel_messages(bot)
    assert request_id(message) == second
    assert named_in_log(caplog, first), caplog.text
    swept_later(bot, 2 * POST_GRACE + 2)  # the database writes again: the next pass posts it
    assert sorted(request_id(m) for m in channel_messages(bot)) == sorted([first, second])


def test_a_bulk_change_whose_late_post_the_database_refuses_keeps_no_other_from_its_post(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=False, times=2))
    ask_bulk_of_two(bot, planetscale, "one")
    ask_bulk_of_two(bot, planetscale, "two")
    first, second = [b.id for b in bot.deps.store.open_batches()]
    assert channel_messages(bot) == []
    with notices_refused(bot, first), caplog.at_level(logging.ERROR):
        swept_later(bot, POST_GRACE + 1)  # raises nothing
    assert [button(m, BULK_APPROVE) for m in channel_messages(bot)] == [second]
    assert named_in_log(caplog, first), caplog.text
    swept_later(bot, 2 * POST_GRACE + 2)
    assert sorted(button(m, BULK_APPROVE) for m in channel_messages(bot)) == sorted([first, second])


def test_a_bulk_change_whose_reminder_the_database_refuses_keeps_no_other_from_its_reminder(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale, "one")
    ask_bulk_of_two(bot, planetscale, "two")
    first_message, second_message = channel_messages(bot)
    first = button(first_message, BULK_APPROVE)
    batch = bot.deps.store.get_batch(button(second_message, BULK_APPROVE))
    assert batch is not None
    later = batch.created_at + (batch.expires_at - batch.created_at) * 0.6
    bot.deps.changes.clock = lambda: later  # the store's stays Slack's, whose time stamps the thread reads

    def reminders(ts: str) -> list[str]:
        return [e.text for e in bot.slack.events if e.kind == "message" and e.thread_ts == ts
                and e.text.startswith(":bell:")]

    with notices_refused(bot, first), caplog.at_level(logging.ERROR):
        sweep(bot)  # raises nothing
    assert len(reminders(second_message.ts)) == 1 and reminders(first_message.ts) == []
    assert named_in_log(caplog, first), caplog.text
    sweep(bot)
    assert len(reminders(first_message.ts)) == 1 and len(reminders(second_message.ts)) == 1

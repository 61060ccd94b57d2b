"""A pending bulk change whose expiry is damaged in the database (text on SQLite), at the moment another bulk
change's approvers are due a reminder. The sweep's bulk steps compared that expiry with the clock directly: in its
judging turn, and in the reminders when its expiry could not be written (the database refusing that one row), the
comparison raised and the other bulk change's reminder never came, on every pass. Now the damaged one is skipped
there, with a log line naming it, and the others are reminded."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot, sweep
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def two_asked(bot: Bot, planetscale: PlanetScaleState, until: object) -> tuple[str, str, SlackEvent]:
    """Two pending bulk changes, the first one's expiry damaged to `until`, and the clock of the sweep's steps at
    60% of the second's life, past its first reminder moment and its judging turn: (first's ID, second's ID,
    second's message)."""
    ask_bulk_of_two(bot, planetscale, "one")
    ask_bulk_of_two(bot, planetscale, "two")
    first_message, second_message = channel_messages(bot)
    first, second = button(first_message, BULK_APPROVE), button(second_message, BULK_APPROVE)
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update change_batches set expires_at = :until where id = :id"),
                            {"until": until, "id": first}).rowcount == 1
    batch = bot.deps.store.get_batch(second)
    assert batch is not None
    later = batch.created_at + (batch.expires_at - batch.created_at) * 0.6
    bot.deps.changes.clock = lambda: later  # the store's stays Slack's, whose time stamps the thread reads
    return first, second, second_message


def reminders(bot: Bot, message: SlackEvent) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
            and e.text.startswith(":bell:")]


@damaged_times()
def test_a_damaged_expiry_in_its_judging_turn_keeps_no_other_bulk_change_from_its_reminder(
        approvals_bot: Bot, planetscale: PlanetScaleState, until: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, until)
    first, _, message = two_asked(bot, planetscale, until)
    sweep(bot)  # raises nothing
    assert len(reminders(bot, message)) == 1, reminders(bot, message)
    expired = bot.deps.store.get_batch(first)
    assert expired is not None and expired.state is BatchState.EXPIRED


def test_a_damaged_expiry_the_database_will_not_close_keeps_no_other_bulk_change_from_its_reminder(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    skip_unless_held(bot, "soon")  # text in a time's column: SQLite's alone
    first, _, message = two_asked(bot, planetscale, "soon")
    with bot.deps.store.engine.begin() as conn:  # the database refuses to close the damaged one, and it alone
        conn.execute(sa.text(f"CREATE TRIGGER refuse_close BEFORE UPDATE OF state ON change_batches "
                             f"WHEN old.id = '{first}' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"))
    with caplog.at_level(logging.WARNING):
        sweep(bot)  # raises nothing
    assert len(reminders(bot, message)) == 1, reminders(bot, message)
    skipped = [r.getMessage() for r in caplog.records if first in r.getMessage() and "expiry" in r.getMessage()]
    assert skipped, caplog.text
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER refuse_close"))
    sweep(bot)  # the database writes again: the next pass expires it
    expired = bot.deps.store.get_batch(first)
    assert expired is not None and expired.state is BatchState.EXPIRED
    assert len(reminders(bot, message)) == 1, reminders(bot, message)

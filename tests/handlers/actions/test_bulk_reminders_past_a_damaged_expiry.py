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
from bulk_helpers import two_asked_one_damaged
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent

__all__ = ["approvals_bot"]  # a fixture, used by name


def reminders(bot: Bot, message: SlackEvent) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
            and e.text.startswith(":bell:")]


@damaged_times()
def test_a_damaged_expiry_in_its_judging_turn_keeps_no_other_bulk_change_from_its_reminder(
        approvals_bot: Bot, planetscale: PlanetScaleState, until: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, until)
    first, _, message = two_asked_one_damaged(bot, planetscale, "expires_at", until)
    sweep(bot)  # raises nothing
    assert len(reminders(bot, message)) == 1, reminders(bot, message)
    expired = bot.deps.store.get_batch(first)
    assert expired is not None and expired.state is BatchState.EXPIRED


def test_a_damaged_expiry_the_database_will_not_close_keeps_no_other_bulk_change_from_its_reminder(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    skip_unless_held(bot, "soon")  # text in a time's column: SQLite's alone
    first, _, message = two_asked_one_damaged(bot, planetscale, "expires_at", "soon")
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

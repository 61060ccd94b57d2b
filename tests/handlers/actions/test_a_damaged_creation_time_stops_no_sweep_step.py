"""A pending bulk change or request whose creation time is damaged in the database (text, which SQLite keeps in a
number's column; a time no clock reaches, Infinity on PostgreSQL). The sweep's judging turns sorted their rows by
age, comparing text with numbers: on SQLite the sweep's bulk step failed on every pass, so no bulk change was judged
again, expired or reminded, and likewise no request was judged again (one its channel no longer allows was left
pending). Its reminders read the damaged time too. Now the damaged one goes last and is not reminded, with a log
line naming it, and the others move."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from approval_helpers import CAROL, PROD, RULES, approvals_bot, sweep, swept_later
from bulk_helpers import ALICE, channel_messages, two_asked_one_damaged
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from home_helpers import open_home

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name


@damaged_times("when")
def test_a_bulk_change_whose_creation_time_is_damaged_keeps_no_other_from_its_reminder_pending_or_the_home(
        approvals_bot: Bot, planetscale: PlanetScaleState, when: object, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    skip_unless_held(bot, when)
    _, _, second_message = two_asked_one_damaged(bot, planetscale, "created_at", when)
    sweep(bot)
    assert not [r.getMessage() for r in caplog.records if "the sweep's step" in r.getMessage()]
    reminders = [e.text for e in bot.slack.events if e.kind == "message" and e.thread_ts == second_message.ts
                 and e.text.startswith(":bell:")]
    assert len(reminders) == 1, reminders
    for user in (CAROL, ALICE):
        said = bot.command("pending", user=user).all_text()
        home = json.dumps(open_home(bot, user)["blocks"], ensure_ascii=False)
        for shown in (said, home):
            assert "Something went wrong" not in shown and "could not be shown" not in shown, shown[:800]
            assert "two-" in shown, shown[:800]


RANDOM = "C0RANDOM01"
OPS_AND_RANDOM = RULES.format(approvals=1).replace('channels = ["C0DBAOPS01"]',
                                                  'channels = ["C0DBAOPS01", "C0RANDOM01"]')


@damaged_times("when")
def test_a_request_whose_creation_time_is_damaged_keeps_no_other_from_being_judged_again(
        approvals_bot: Bot, when: object, caplog: pytest.LogCaptureFixture) -> None:
    """Two requests asked in a channel a later rule no longer allows: the sweep closes the undamaged one, each of
    its steps passing the damaged one."""
    bot = approvals_bot
    skip_unless_held(bot, when)
    bot.use_rules(OPS_AND_RANDOM)
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE, channel=RANDOM)
    bot.command(f"update acme/app-db {PROD} frequency=6h", user=ALICE, channel=RANDOM)
    bot.use_rules(RULES.format(approvals=1))
    with bot.deps.store.engine.begin() as conn:
        damaged, other = conn.execute(sa.text("select id from change_requests order by created_at")).scalars().all()
        assert conn.execute(sa.text("update change_requests set created_at = :when where id = :id"),
                            {"when": when, "id": damaged}).rowcount == 1
    swept_later(bot, 700)  # their turn to be judged again
    assert not [r.getMessage() for r in caplog.records if "the sweep's step" in r.getMessage()]
    request = bot.deps.store.get_request(other)
    assert request is not None and request.state is RequestState.FAILED, "left pending though no approver can move it"


@damaged_times("when")
def test_a_request_whose_creation_time_is_damaged_keeps_no_other_from_its_reminder(
        approvals_bot: Bot, when: object, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    skip_unless_held(bot, when)
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} frequency=6h", user=ALICE)
    with bot.deps.store.engine.begin() as conn:
        damaged, other = conn.execute(sa.text("select id from change_requests order by created_at")).scalars().all()
        assert conn.execute(sa.text("update change_requests set created_at = :when where id = :id"),
                            {"when": when, "id": damaged}).rowcount == 1
    swept_later(bot, 0.6 * 24 * 3600)  # past the first reminder moment of their day's life
    assert not [r.getMessage() for r in caplog.records if "the sweep's step" in r.getMessage()]
    [message] = [e for e in channel_messages(bot) if other in json.dumps(e.blocks)]
    reminders = [e.text for e in bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
                 and e.text.startswith(":bell:")]
    assert len(reminders) == 1, reminders

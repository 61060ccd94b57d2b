"""On a bad day of volume, with hundreds of bulk changes open, `/backup-policy pending` and the App Home still list
every one a person can act on, and count them all: a bulk change made after the first two hundred is theirs to
cancel or approve like any other. And an open of the Home reads the database a few times, not once per bulk
change."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import replace

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, BOB, CAROL
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from home_helpers import home_buttons, open_home
from store_calls import watched_store

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE, BULK_CANCEL

OTHERS = 250  # more than any one read of open bulk changes took


def test_the_newest_of_hundreds_of_open_bulk_changes_is_listed_and_counted(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale)
    [message] = channel_messages(bot)
    newest = bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert newest is not None
    for n in range(OTHERS):  # Bob's, older: Alice may neither approve nor cancel them, Carol may approve each
        bot.deps.store.add_batch(replace(newest, id=str(uuid.uuid4()), requester=BOB, message_channel=None,
                                         message_ts=None, created_at=newest.created_at - 1000 + n))
    # Alice's own, the newest of all, is hers to cancel from either place.
    said = bot.command("pending", user=ALICE).all_text()
    assert newest.id in said and "Open bulk changes you can act on* (1)" in said, said[:800]
    assert (BULK_CANCEL, newest.id) in home_buttons(open_home(bot, ALICE))
    # Carol is told of all of them, the ones not shown counted.
    said = bot.command("pending", user=CAROL).all_text()
    assert f"Open bulk changes you can act on* ({OTHERS + 1})" in said, said[:800]
    calls: Counter[str] = Counter()
    with watched_store(bot.deps.store, lambda name: calls.update([name])):
        home = json.dumps(open_home(bot, CAROL)["blocks"], ensure_ascii=False)
    assert f"…and {OTHERS + 1 - 5} more not shown." in home, home[-1500:]
    assert sum(calls.values()) < 20, calls


@damaged_times("when")
@pytest.mark.parametrize("column", ["created_at", "expires_at"])
def test_a_bulk_change_whose_time_is_damaged_hides_no_other_from_pending_or_the_home(
        approvals_bot: Bot, planetscale: PlanetScaleState, column: str, when: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, when)
    ask_bulk_of_two(bot, planetscale, "one")
    ask_bulk_of_two(bot, planetscale, "two")
    first, second = [button(m, BULK_APPROVE) for m in channel_messages(bot)]
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text(f"update change_batches set {column} = :when where id = :id"),
                            {"when": when, "id": first}).rowcount == 1
    said = bot.command("pending", user=CAROL).all_text()
    home = json.dumps(open_home(bot, CAROL)["blocks"], ensure_ascii=False)
    for shown in (said, home):
        assert "Something went wrong" not in shown and "could not be shown" not in shown, shown[:800]
        assert second in shown, shown[:800]

"""A change's post that Slack answered 5xx or left unanswered is the sweep's to look for and post: its requester was
told `/backup-policy pending` lists it while it is open (an applied change is not), beside the failure's class name
(`UnreadableAnswer`, `ReadTimeout`) in place of words. Now they read where it stands and that the bot posts it if
Slack did not make it. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, PROD, swept_later
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import CHANNEL, Bot
from test_bulk import add_databases

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault


def in_channel(bot: Bot) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and not e.thread_ts]


@pytest.mark.parametrize(("policy", "open_"), [("bp03devday", False), (PROD, True)], ids=["applied", "pending"])
def test_told_where_it_stands_in_words(approvals_bot: Bot, planetscale: PlanetScaleState, policy: str,
                                       open_: bool) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", status=502, channel=CHANNEL, in_thread=False))
    said = bot.command(f"update acme/app-db {policy} retention=9d", user=ALICE).all_text()
    assert "did not confirm its post" in said and "posts it if Slack did not make it" in said, said
    assert "UnreadableAnswer" not in said and "its answer could not be read" in said, said
    assert ("`/backup-policy pending` lists it" in said) is open_, said
    swept_later(bot)
    assert len(in_channel(bot)) == 1, in_channel(bot)


def test_a_bulk_change_told_where_it_stands_in_words(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    add_databases(planetscale, "unseen", 2)
    bot.slack.add_fault(MethodFault("chat.postMessage", status=502, channel=CHANNEL, in_thread=False))
    said = bot.command('update acme/unseen-* "Production daily" retention=14d', user=ALICE).all_text()
    assert "did not confirm the post" in said and "posts it if Slack did not make it" in said, said
    assert "UnreadableAnswer" not in said and "its answer could not be read" in said, said
    for _ in range(2):
        swept_later(bot)
    assert len(in_channel(bot)) == 1, in_channel(bot)

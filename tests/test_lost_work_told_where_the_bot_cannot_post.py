"""Work the inbox gave up on (acked, its instance stopped, nobody redid it within INBOX_GIVE_UP) is told to its
person. Asked in a channel the bot is not in, the ephemeral message is refused there, and the command's response
URL is past its 30 minutes by then (INBOX_GIVE_UP is 30 minutes): the person is told in the bot's direct message
with them, and the trail says whether anyone was told. Two instances on one database, through Bolt's pipeline,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ALICE
from test_inbox import PROD, Instances, Killed, acked, inbox_of, instances

from bot.emulators.slack import MethodFault, SlackState
from bot.runtime.running import start_sweeper
from bot.runtime.sweeper import INBOX_GIVE_UP

__all__ = ["instances"]  # a fixture, used by name

PRIVATE = "G0PRIVATE01"  # a channel the emulator does not know: chat.postEphemeral answers channel_not_found


def give_up(instances: Instances, slack: SlackState, settings: Any) -> Any:
    killed, alive = instances.start(Killed()), instances.start()
    body = killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE, channel=PRIVATE)
    assert acked(killed, body) == 200
    slack.expired_responses.add("1")  # the command's response URL, half an hour later
    keeper = start_sweeper(alive.deps, alive.app, settings, start=False).inbox
    assert keeper is not None
    inbox_of(alive).ahead = INBOX_GIVE_UP + 1
    keeper.step()
    assert alive.executor.wait_idle(timeout=30)
    [lost] = [e for e in alive.audit.all() if e.action == "lost"]
    return lost


def test_lost_work_asked_where_the_bot_cannot_post_is_told_in_a_direct_message(
        instances: Instances, slack: SlackState, settings: Any) -> None:
    lost = give_up(instances, slack, settings)
    told = [e for e in slack.events if "try again" in e.text]
    assert [(e.kind, e.channel) for e in told] == [("message", slack.dm_channel(ALICE))], slack.events
    assert "retention=9d" in told[0].text
    assert "(not told)" not in (lost.detail or "")


@pytest.mark.parametrize("dm_refused", ["user_not_found", "cannot_dm_bot"])
def test_lost_work_told_to_nobody_is_recorded_as_not_told(
        instances: Instances, slack: SlackState, settings: Any, dm_refused: str) -> None:
    slack.add_fault(MethodFault("chat.postMessage", error=dm_refused, times=None))
    lost = give_up(instances, slack, settings)
    assert not [e for e in slack.events if "try again" in e.text]
    assert "(not told)" in (lost.detail or ""), lost.detail

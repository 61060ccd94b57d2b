"""A change asked in a channel the bot cannot post in is shown there through the command's response URL
(`in_channel`). When Slack no longer takes that URL (404 `expired_url`: past its 30 minutes or its five uses, as
work redone late from the inbox meets it), the person who asked is still told, privately, that the channel did
not get it: an ephemeral message cannot reach them in a channel the bot is not in either, so a direct message
does. Through Bolt's pipeline, on SQLite and PostgreSQL, with Slack's emulator answering as Slack does."""

from __future__ import annotations

import json

import pytest
from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name

PRIVATE = "G0PRIVATE01"  # a channel the emulator does not know: chat.postMessage answers channel_not_found
ANYWHERE = RULES.format(approvals=1).replace('channels = ["C0DBAOPS01"]\n', "")


def told_privately(bot: Bot, user: str) -> str:
    """What reached `user` alone: an ephemeral message, or a message in the bot's direct message with them."""
    dm = bot.slack.dm_channel(user)
    return json.dumps([[e.text, e.blocks] for e in bot.slack.events
                       if (e.kind == "ephemeral" and e.user == user) or (e.kind == "message" and e.channel == dm)],
                      ensure_ascii=False)


def shown_in_channel(bot: Bot) -> list[str]:
    return [e.text for e in bot.slack.events if (e.kind == "message" and e.channel == PRIVATE)
            or (e.kind == "response" and e.response_type == "in_channel")]


@pytest.mark.parametrize("command, sent, state", [
    ("update acme/app-db bp03devday retention=7d", 1, "is applied"),  # needs no approval: applied at once
    ("update acme/app-db bp01prod12h retention=30d", 0, "is waiting for approval"),  # nobody shown it
])
def test_a_change_its_channel_never_got_is_told_to_its_requester(
    approvals_bot: Bot, planetscale: PlanetScaleState, command: str, sent: int, state: str
) -> None:
    approvals_bot.use_rules(ANYWHERE)
    approvals_bot.slack.expired_responses.add("1")  # the command's response URL
    approvals_bot.command(command, channel=PRIVATE)
    assert len(planetscale.calls("PATCH")) == sent
    assert not shown_in_channel(approvals_bot)
    told = told_privately(approvals_bot, ALICE)
    assert "could not be posted to the channel" in told and "/backup-policy pending" in told, told
    assert state in told, told


def test_a_bulk_change_its_channel_never_got_is_told_to_its_requester(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(ANYWHERE)
    approvals_bot.slack.expired_responses.add("1")
    approvals_bot.command('update acme/* "Production daily" retention=3d reason="audit asks 3 days"',
                          channel=PRIVATE)
    assert not planetscale.calls("PATCH")  # waiting for an approval
    assert not shown_in_channel(approvals_bot)
    told = told_privately(approvals_bot, ALICE)
    assert "could not be posted to the channel" in told and "/backup-policy pending" in told, told
    assert "waiting for approval" in told, told

"""A user group whose ID Slack lists with characters no Slack ID has (`S0DBALEAD1> <!channel`): the rules' handle
was resolved to it and stored as the request's approvers, and its mention (`<@S0DBALEAD1> <!channel>`) notified
the whole channel, in the request's message and in the requester's answer. A handle whose ID is not one Slack
can mention stays the handle, as the rules write it."""

from __future__ import annotations

import json

import pytest
from approval_helpers import ALICE, CAROL, PROD, request_id, request_message
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE


@pytest.mark.parametrize("group_id", ["S0DBALEAD1> <!channel", "S0DBALEAD1|x> <!here", "<!everyone>"])
def test_an_odd_group_id_notifies_nobody_and_its_members_still_approve(
    approvals_bot: Bot, planetscale: PlanetScaleState, group_id: str
) -> None:
    bot = approvals_bot
    bot.slack.usergroups["S0DBALEAD1"]["id"] = group_id
    reply = bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    shown = json.dumps([[e.text, e.blocks] for e in bot.slack.events])
    assert not any(word in shown for word in ("<!channel>", "<!here>", "<!everyone>")), shown
    assert "@dba-leads" in reply.all_text(), reply.all_text()
    message = request_message(bot)
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert len(planetscale.calls("PATCH")) == 1
    shown = json.dumps([[e.text, e.blocks] for e in bot.slack.events])
    assert not any(word in shown for word in ("<!channel>", "<!here>", "<!everyone>")), shown

"""A request an older release took and left pending at the upgrade, holding a value this release refuses at the
door (a name with an invisible format character, refused since; a name longer than PlanetScale takes), is ended
when approved with nothing sent, and its requester and approver are told what in it this release refuses, not
that the bot's database was damaged; the character itself never shown, and each message says once that nothing
was sent."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, PROD, direct_messages, request_id, request_message, thread_of
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

# The name an older release stored, and what this release says of it.
OLDER_NAMES = {"Night\u202ely": "invisible format characters (U+202E)", "N" * 300: "at most 255 characters"}


@pytest.mark.parametrize("name", list(OLDER_NAMES), ids=["format-character", "300-characters"])
def test_an_approval_of_a_request_an_older_release_took_says_what_this_one_refuses(
        approvals_bot: Bot, planetscale: PlanetScaleState, name: str) -> None:
    bot = approvals_bot
    bot.command(f'update acme/app-db {PROD} name="Nightly"', user=ALICE)
    message = request_message(bot)
    with bot.deps.store.engine.begin() as conn:  # as the older release stored it
        conn.execute(sa.text("update change_requests set changes = :changes"), {"changes": json.dumps({"name": name})})
    reply = bot.click(APPROVE, request_id(message), user=CAROL, message=message).all_text()
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED, request
    told = [reply, *thread_of(bot, message), *direct_messages(bot, ALICE)]
    assert any("(name: " in line and OLDER_NAMES[name] in line for line in told), told
    for line in told:
        assert "damaged in the bot's database)" not in line and "Nothing was sent.. " not in line, line
    shown = json.dumps([[e.text, e.blocks] for e in bot.slack.events], ensure_ascii=False)
    assert "\u202e" not in shown and "Something went wrong" not in shown
    assert planetscale.calls("PATCH") == []

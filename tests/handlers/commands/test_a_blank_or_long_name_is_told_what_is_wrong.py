"""A name of only spaces (or no-break spaces) was answered "`name` must be 1 to 255 characters", not saying it was
blank; one past the limit was not told its length. Each now says what is wrong, as the create form does, to the
caller alone and before anything is read. Through Bolt's pipeline."""

from __future__ import annotations

import pytest
from conftest import ALICE, Bot

from bot.emulators.planetscale_state import PlanetScaleState

REST = "target=development retention=7d frequency=1d at=02:00"


@pytest.mark.parametrize("name", ["   ", "\u00a0\u00a0"])
def test_a_blank_name_is_told_blank(bot: Bot, planetscale: PlanetScaleState, name: str) -> None:
    for text in (f'create acme/app-db name="{name}" {REST}', f'update acme/app-db bp03devday name="{name}"'):
        reply = bot.command(text, user=ALICE)
        assert "`name` is blank" in reply.ack_text, reply.ack_text
    assert planetscale.calls() == []


def test_a_name_past_the_limit_is_told_its_length(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command(f'create acme/app-db name="{"x" * 300}" {REST}', user=ALICE)
    assert "1 to 255 characters" in reply.ack_text and "this is 300" in reply.ack_text, reply.ack_text
    assert planetscale.calls() == []

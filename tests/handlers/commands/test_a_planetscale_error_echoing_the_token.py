"""PlanetScale's error text is shown as written; one that echoes the service token (a proxy or a gateway repeating
the request's Authorization header) reaches no message and no audit entry with it."""

from __future__ import annotations

import json

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, Fault, PlanetScaleState

PROD = '"Production daily"'


@pytest.mark.parametrize("status", [422, 418])
def test_a_planetscale_error_echoing_the_token_is_told_and_recorded_without_it(
    bot: Bot, planetscale: PlanetScaleState, status: int
) -> None:
    echoed = f"bad header Authorization: {DEMO_TOKEN_ID}:{DEMO_TOKEN}"
    planetscale.add_fault(Fault(status=status, method="PATCH",
                                body=json.dumps({"code": "unprocessable", "message": echoed})))
    reply = bot.command(f"update acme/app-db {PROD} retention=30d")
    [answer] = reply.private
    assert "bad header Authorization" in answer.text  # the rest of PlanetScale's words are still shown
    assert DEMO_TOKEN not in reply.all_text()
    assert DEMO_TOKEN_ID not in reply.all_text(), "the service token's ID is a secret too"
    events = bot.audit.all()
    assert [e.action for e in events] == ["requested", "sending", "failed"]
    assert "bad header Authorization" in (events[-1].detail or "")
    for event in events:
        assert DEMO_TOKEN not in repr(event) and DEMO_TOKEN_ID not in repr(event)

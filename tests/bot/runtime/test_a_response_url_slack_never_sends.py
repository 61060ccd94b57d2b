"""A signed slash command whose response URL holds a control character (NUL) or a space, which no HTTP client sends
to, through Bolt's real pipeline: `list` was read and its answer raised in the HTTP client after the ack (a
traceback, and 'the person could not be told'), so nobody learnt anything. Such a request is no request Slack
sends: refused at the door before anything is read."""

from __future__ import annotations

import pytest
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack_requests import slash_command_body


@pytest.mark.parametrize("odd", ["\x00", " ", "\u202e"], ids=["nul", "space", "bidi"])
def test_a_command_with_a_response_url_slack_never_sends_is_ignored(
        bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, odd: str) -> None:
    body = slash_command_body("list acme/app-db", user_id="U0ALICE001", user_name="alice", channel_id="C0DBAOPS01",
                              channel_name="dba-ops", response_url=f"{bot.slack_url}/response/1{odd}",
                              trigger_id=bot.slack.new_trigger_id())
    reply = bot.send(body)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert reply.events == [] and planetscale.calls() == []
    assert any("response_url is not an http(s) URL" in r.getMessage() for r in caplog.records)

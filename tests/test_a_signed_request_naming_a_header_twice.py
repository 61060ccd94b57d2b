"""A request Slack signed with a header the door reads named twice (Content-Type, the signature or its time stamp):
the door reads the first and Bolt the last, so a form reached Bolt's JSON parser, or a time stamp Bolt could not
read its check, each a 500 and a traceback. Refused at the door in words instead. Over real HTTP, through Bolt."""

from __future__ import annotations

import httpx
import pytest
from conftest import SIGNING_SECRET, Bot
from test_serve import post
from test_serve import server as server  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack_requests import signed_headers


@pytest.mark.parametrize(("name", "second"), [
    ("content-type", "application/json"),
    ("x-slack-request-timestamp", "abc"),
    ("x-slack-request-timestamp", ""),
    ("x-slack-signature", "v0=\u00e9"),
])
def test_a_signed_request_naming_a_header_twice_is_answered_400_in_words(
        bot: Bot, server: str, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, name: str,
        second: str) -> None:
    body = bot.command_body("update acme/app-db production retention=1d reason=\"cost\"")
    headers = [*dict(signed_headers(SIGNING_SECRET, body)).items(), (name, second)]  # type: ignore[arg-type]
    answer = httpx.post(f"{server}/slack/events", content=body, timeout=10,
                        headers=[(k, v.encode("latin-1")) for k, v in headers])
    assert answer.status_code == 400, (answer.status_code, answer.text)
    assert f"more than one {name}" in answer.text.lower(), answer.text
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert bot.executor.wait_idle(30) and planetscale.calls() == []
    post(server, bot.command_body("help"))  # and the next request is served

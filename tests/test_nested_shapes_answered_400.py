"""Signed requests whose nested parts are not Slack's shapes reach Bolt's parsers and are answered 400."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from conftest import SIGNING_SECRET, Bot
from test_serve import post, server  # noqa: F401

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack_requests import signed_headers

USER = {"id": "U0ALICE001", "name": "alice"}


def form(payload: object) -> tuple[str, str]:
    return "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded"


@pytest.mark.parametrize(("body", "content_type"), [
    form({"type": "view_submission", "user": USER, "view": "x"}),
    form({"type": "block_actions", "user": USER, "actions": "x"}),
    form({"type": "block_actions", "user": USER, "actions": [1]}),
    (json.dumps({"type": "event_callback", "event": "x"}), "application/json"),
    (json.dumps({"type": "event_callback", "event": {"type": "app_home_opened", "user": 5, "tab": "home"}}),
     "application/json"),
    # Interactions sent as JSON, which Bolt reads as interactions, not as events (rev20).
    (json.dumps({"type": "block_actions", "user": True}), "application/json"),
    (json.dumps({"type": "block_actions", "user": USER, "actions": [1]}), "application/json"),
    (json.dumps({"type": "view_submission", "user": USER, "view": "x"}), "application/json"),
    (json.dumps({"type": "shortcut", "user": "U0ALICE001"}), "application/json"),
], ids=["view-text", "actions-text", "actions-number", "event-text", "event-user-number", "json-user-true",
        "json-actions-number", "json-view-text", "json-user-text"])
def test_a_signed_request_with_a_malformed_nested_part_is_answered_400_without_a_traceback(
        bot: Bot, server: str, planetscale: PlanetScaleState, body: str, content_type: str,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    headers = {**dict(signed_headers(SIGNING_SECRET, body)), "content-type": content_type}  # type: ignore[arg-type]
    answer = post(server, body, headers)
    assert bot.executor.wait_idle(30)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert answer.status_code == 400, (answer.status_code, answer.text)

"""Signed requests of shapes Slack never sends, whose parts Bolt itself indexes or matches before any listener (an
action's `action_id`, the first of `actions`, a workflow step) or the command's listener reads (`channel_id`,
`trigger_id`), and an App Home opened by nobody: each raised (a 500 and a traceback) or called Slack for nobody.
Over HTTP they are answered 400 with the reason; over Socket Mode (the same middleware as `bot.send`) they are
ignored, with a warning, and nothing reaches Slack."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from conftest import SIGNING_SECRET, Bot
from test_serve import post, server  # noqa: F401

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack_requests import APP_ID, TEAM_ID, signed_headers

USER = {"id": "U0ALICE001", "name": "alice", "team_id": TEAM_ID}
CHANNEL = "C0DEMO0001"


def clicked(**action: object) -> tuple[str, str]:
    return interaction({"type": "block_actions", "trigger_id": "1.2.ab", "container": {
        "type": "message", "message_ts": "1.1", "channel_id": CHANNEL}, "channel": {"id": CHANNEL},
        "actions": [action] if action else []})


def interaction(payload: dict[str, object]) -> tuple[str, str]:
    payload = {"team": {"id": TEAM_ID}, "user": USER, "api_app_id": APP_ID, "token": "unused", **payload}
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def command(text: str, type: str | None = None, **leave_out: bool) -> tuple[str, str]:
    """`type`: a field Slack never sends with a command, which Bolt matches interactions by."""
    form = {"command": "/backup-policy", "text": text, "user_id": "U0ALICE001", "team_id": TEAM_ID,
            "channel_id": CHANNEL, "response_url": "https://hooks.slack.com/commands/1", "trigger_id": "1.2.ab",
            **({"type": type} if type else {})}
    return urlencode({k: v for k, v in form.items() if not leave_out.get(k)}), "application/x-www-form-urlencoded"


def home_opened(event: dict[str, object]) -> tuple[str, str]:
    return json.dumps({"type": "event_callback", "team_id": TEAM_ID, "api_app_id": APP_ID, "event_id": "Ev0ODD",
                       "event_time": 1, "event": {"type": "app_home_opened", "tab": "home", **event}}), \
        "application/json"


def beside_an_event(body: dict[str, object]) -> tuple[str, str]:
    """JSON holding an `event` beside what Bolt reads first (an interaction's type, a command): Bolt takes it for
    the interaction or the command, not the event."""
    return json.dumps({"team_id": TEAM_ID, "api_app_id": APP_ID, "event": {"type": "message"}, **body}), \
        "application/json"


CASES = {
    "action-id-a-number": clicked(type="button", action_id=5, value="x"),
    "action-id-null": clicked(type="button", action_id=None, value="x"),
    "action-without-action-id": clicked(type="button", value="x"),
    "no-action": clicked(),
    "workflow-step-edit-without-its-step": interaction({"type": "workflow_step_edit", "callback_id": "x",
                                                        "trigger_id": "1.2.ab"}),
    "workflow-step-form-without-its-step": interaction({"type": "view_submission", "view": {
        "id": "V0ODD", "type": "workflow_step", "callback_id": "x", "state": {"values": {}}}}),
    "command-without-channel": command("pending", channel_id=True),
    "edit-command-without-trigger": command("edit acme/app-db bp01prod12h", trigger_id=True),
    "home-opened-by-nobody": home_opened({}),
    "home-opened-by-an-object": home_opened({"user": {"id": "U0ALICE001"}}),
    "click-beside-an-event-its-actions-an-object": beside_an_event({"type": "block_actions", "user": USER,
                                                                     "actions": {"action_id": "x"}}),
    "click-beside-an-event-its-action-a-number": beside_an_event({"type": "block_actions", "user": USER,
                                                                   "actions": [5]}),
    "click-holding-a-command-whose-text-is-a-number": interaction({
        "type": "block_actions", "actions": [{"type": "button", "action_id": "x", "value": "x"}],
        "command": "/backup-policy", "text": 5, "channel_id": CHANNEL, "response_url": "https://hooks.slack.com/1",
        "trigger_id": "1.2.ab", "user_id": "U0ALICE001"}),
    "command-typed-as-a-click": command("help", type="block_actions"),
    "command-beside-an-event-its-text-a-number": beside_an_event({
        "type": "event_callback", "command": "/backup-policy", "text": 5, "user_id": "U0ALICE001",
        "channel_id": CHANNEL, "response_url": "https://hooks.slack.com/commands/1", "trigger_id": "1.2.ab"}),
}


def command_as_json(**parts: object) -> tuple[str, str]:
    """A command sent as JSON (as Socket Mode gives one), holding a part Bolt reads of every request."""
    form = {"command": "/backup-policy", "text": "help", "user_id": "U0ALICE001", "channel_id": CHANNEL,
            "response_url": "https://hooks.slack.com/commands/1", "trigger_id": "1.2.ab", **parts}
    return json.dumps(form), "application/json"


FORM = {"type": "view_submission", "trigger_id": "1.2.ab", "view": {
    "id": "V0ODD", "type": "modal", "callback_id": "edit_form", "private_metadata": "{}", "state": {"values": {}}}}
# Bolt reads these as it makes its request of the body, or in its own middlewares, before the bot's: Socket Mode's
# are checked before (tests/test_socket_mode_odd_envelopes.py).
READ_BEFORE_ANY_MIDDLEWARE = {
    "command-whose-team-is-a-number": command_as_json(team=5),
    "command-whose-user-is-a-number": command_as_json(user=5),
    "command-whose-channel-is-a-number": command_as_json(channel=5),
    "command-whose-enterprise-is-a-number": command_as_json(enterprise=5),
    "command-whose-authorizations-are-a-number": command_as_json(authorizations=5),
    "command-whose-authorizations-hold-a-number": command_as_json(authorizations=[5]),
    "form-whose-response-urls-are-a-number": interaction({**FORM, "response_urls": 5}),
    "form-whose-response-urls-hold-a-number": interaction({**FORM, "response_urls": [5]}),
    "home-opened-in-a-channel-that-is-a-number": home_opened({"user": "U0ALICE001", "channel": 5}),
    "ssl-check-of-another-value-beside-an-event": ("ssl_check=0&type=event_callback&event=x",
                                                   "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize("case", {**CASES, **READ_BEFORE_ANY_MIDDLEWARE})
def test_a_signed_request_bolt_would_raise_on_is_answered_400_without_a_traceback(
        bot: Bot, server: str, planetscale: PlanetScaleState, case: str,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    body, content_type = {**CASES, **READ_BEFORE_ANY_MIDDLEWARE}[case]
    headers = {**dict(signed_headers(SIGNING_SECRET, body)), "content-type": content_type}  # type: ignore[arg-type]
    answer = post(server, body, headers)
    assert bot.executor.wait_idle(30)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert answer.status_code == 400, (answer.status_code, answer.text)
    assert "not a request Slack sends" in answer.text


@pytest.mark.parametrize("case", CASES)
def test_over_socket_mode_it_is_ignored_and_nothing_reaches_slack(
        bot: Bot, planetscale: PlanetScaleState, case: str, caplog: pytest.LogCaptureFixture) -> None:
    body, content_type = CASES[case]
    headers = {**dict(signed_headers(SIGNING_SECRET, body)), "content-type": content_type}  # type: ignore[arg-type]
    calls = len(bot.slack.calls)
    reply = bot.send(body, headers)  # type: ignore[arg-type]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert reply.response.status == 200, reply.response.status
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"
            and "not of a shape Slack sends" in r.getMessage()]
    assert bot.slack.calls[calls:] == [] and reply.events == []

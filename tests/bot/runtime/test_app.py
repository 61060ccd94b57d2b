"""The app as Bolt runs it: each listener handed the arguments it names, as Bolt itself would hand them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import ALICE, CHANNEL, SIGNING_SECRET, Bot
from slack_bolt import Ack, BoltRequest, Say
from slack_bolt.kwargs_injection import build_required_kwargs
from slack_bolt.listener.custom_listener import CustomListener

from bot.emulators.slack_requests import app_home_opened_body, signed_headers, view_submission_body
from bot.runtime.app import LISTENER_ARGUMENTS, BotApp


def payloads(bot: Bot) -> dict[str, tuple[str, str]]:
    """A request of each kind the bot listens to, with the content type Slack sends it in."""
    form = "application/x-www-form-urlencoded"
    view = {"id": "V1", "type": "modal", "callback_id": "edit_form", "blocks": []}
    return {
        "command": (bot.command_body("list acme/app-db"), form),
        "click": (bot.click_body("approve", "r1"), form),
        "submission": (view_submission_body(user_id=ALICE, user_name="alice", view=view, values={}), form),
        "event": (app_home_opened_body(user_id=ALICE, event_id="Ev1"), "application/json"),
    }


@pytest.mark.parametrize("kind", ["command", "click", "submission", "event"])
def test_each_argument_is_what_bolt_would_hand_the_listener(bot: Bot, kind: str) -> None:
    body, content_type = payloads(bot)[kind]
    app = bot.app
    assert isinstance(app, BotApp)
    request = BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body, content_type=content_type))
    app._init_context(request)
    for name, make in LISTENER_ARGUMENTS.items():
        bolts = build_required_kwargs(logger=app.logger, required_arg_names=[name], request=request, response=None)
        ours = make(request)
        assert ours is bolts[name] or (ours == bolts[name] and type(ours) is type(bolts[name])), name


def test_every_listener_of_the_bot_gets_its_arguments_directly(bot: Bot) -> None:
    """Bolt's way builds thirty arguments per listener tried: a listener falling back to it would slow every ack."""
    listeners = bot.app._listeners
    assert listeners
    for listener in listeners:
        assert type(listener) is not CustomListener and listener._arguments is not None, listener.ack_function
        assert type(listener.matchers[0]).__name__ == "_BodyMatcher", listener.ack_function


def test_a_listener_naming_an_argument_outside_the_table_gets_it_the_way_bolt_makes_it(bot: Bot) -> None:
    seen: dict[str, Any] = {}

    @bot.app.command("/probe")
    def probe(ack: Ack, say: Say, payload: dict[str, Any], command: dict[str, Any]) -> None:
        seen.update(say=say, payload=payload, command=command)
        ack(text="probed")

    body = bot.command_body("anything").replace("%2Fbackup-policy", "%2Fprobe")
    reply = bot.send(body)
    assert reply.ack_text == "probed"
    assert isinstance(seen["say"], Say) and seen["say"].channel == CHANNEL
    assert seen["payload"] == seen["command"] and seen["command"]["command"] == "/probe"


def test_a_lazy_listener_runs_on_the_shared_client(bot: Bot) -> None:
    """Bolt deep-copies a request for each lazy listener, the shared client and its pool of connections with it."""
    ran: list[str] = []

    def lazily(command: dict[str, Any], client: Any) -> None:
        ran.append(command["text"])
        assert client.connections is bot.app.client.connections  # type: ignore[attr-defined]

    bot.app.command("/lazy")(ack=lambda ack: ack(), lazy=[lazily])
    reply = bot.send(bot.command_body("later").replace("%2Fbackup-policy", "%2Flazy"))
    assert reply.response.status == 200
    deadline = time.monotonic() + 10
    while not ran and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == ["later"]

"""The app as Bolt runs it: every listener, lazy ones too, on the shared client and its kept-alive connections."""

from __future__ import annotations

import threading
from typing import Any

from conftest import CHANNEL, Bot
from slack_bolt import Ack, BoltContext, Say

from bot.adapters.slack_http import KeptAliveRespond, SlackClient
from bot.runtime.logs import request_id


def test_every_listener_gets_the_shared_client_and_a_respond_on_its_connections(bot: Bot) -> None:
    seen: dict[str, Any] = {}

    @bot.app.command("/probe")
    def probe(ack: Ack, client: Any, respond: Any, context: BoltContext) -> None:
        seen.update(client=client, respond=respond, request_id=request_id.get())
        ack()
        respond(text="answered")

    reply = bot.send(bot.command_body("anything").replace("%2Fbackup-policy", "%2Fprobe"))
    assert seen["client"] is bot.app.client and isinstance(seen["client"], SlackClient)
    assert isinstance(seen["respond"], KeptAliveRespond) and seen["respond"].http is bot.app.client.http
    assert seen["request_id"] != "-"  # each request has its own ID for the logs
    assert [e.text for e in reply.of_kind("response")] == ["answered"]


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
    ran: list[tuple[str, Any, Any]] = []
    done = threading.Event()

    def lazily(command: dict[str, Any], client: Any, respond: Any) -> None:
        respond(text="later, through the pool")
        ran.append((command["text"], client, respond))
        done.set()

    bot.app.command("/lazy")(ack=lambda ack: ack(), lazy=[lazily])
    reply = bot.send(bot.command_body("later").replace("%2Fbackup-policy", "%2Flazy"))
    assert reply.response.status == 200
    assert done.wait(60)
    [(text, client, respond)] = ran
    assert text == "later" and client is bot.app.client and respond.http is bot.app.client.http
    assert any(e.text == "later, through the pool" for e in bot.slack.events if e.kind == "response")

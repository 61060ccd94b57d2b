"""Security and faults: secrets never logged (even at DEBUG, where the HTTP libraries log each request), replays
change nothing twice, and Slack failing after a change still leaves the record and an answer."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from approval_helpers import swept_later
from conftest import BOT_TOKEN, CHANNEL, SIGNING_SECRET, Bot
from slack_bolt import BoltRequest

from bot.emulators.planetscale_state import DEMO_TOKEN, Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.emulators.slack_requests import APP_ID, TEAM_ID, signed_headers
from bot.runtime.logs import configure


def test_no_secret_reaches_a_log_line_even_at_debug_through_every_failure(
    bot: Bot, planetscale: PlanetScaleState, capsys: Any
) -> None:
    configure([SIGNING_SECRET, BOT_TOKEN, DEMO_TOKEN], level="DEBUG")
    try:
        bot.command("list acme/app-db")
        planetscale.add_fault(Fault(status=401))
        bot.command("show acme/app-db bp01prod12h")
        planetscale.add_fault(Fault(status=500, times=None, method="PATCH"))
        bot.command("update acme/app-db bp03devday retention=9d")
        planetscale.add_fault(Fault(status=503, times=1, method="GET"))  # a read is retried, and logged so
        bot.command("show acme/app-db bp01prod12h")
        bot.slack.add_fault(MethodFault("chat.postMessage", error="channel_not_found", times=None))
        planetscale.clear_record()
        bot.command("update acme/app-db bp03devday retention=8d")
        bot.send(bot.command_body("help"), dict(signed_headers("wrong-secret", "x")))
    finally:
        captured = capsys.readouterr()
        logging.getLogger().handlers.clear()
    logged = captured.err + captured.out
    # DEBUG lines were written (the Slack client's among them), and the failures ran
    assert "DEBUG [" in logged and "Slack chat.postMessage" in logged and "planetscale attempt" in logged
    for secret in (SIGNING_SECRET, BOT_TOKEN, DEMO_TOKEN):
        assert secret not in logged


def test_a_replayed_update_inside_the_signature_window_changes_nothing_twice(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    body = bot.command_body("update acme/app-db bp03devday retention=9d")
    headers = signed_headers(SIGNING_SECRET, body)
    bot.send(body, headers)
    again = bot.send(body, headers)
    assert len(planetscale.calls("PATCH")) == 1
    assert again.events == []  # acked, and not acted on again (tests/test_replays.py)


def test_slack_down_after_the_change_still_records_it_and_tells_the_caller(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A 5xx may come after Slack made the post, so it is not sent again at once (nor through the response URL):
    the caller is told, and the sweep posts it once Slack answers, after looking for it in the channel."""
    fault = MethodFault("chat.postMessage", status=500, times=None)
    bot.slack.add_fault(fault)
    reply = bot.command("update acme/app-db bp03devday retention=9d")
    assert len(planetscale.calls("PATCH")) == 1
    assert [e.action for e in bot.audit.all()] == ["requested", "sending", "applied"]
    assert reply.public == [] and "applied" in reply.all_text() and "did not confirm" in reply.all_text()
    assert len(bot.slack.method_calls("chat.postMessage")) == 1
    bot.slack.faults.remove(fault)
    for _ in range(2):
        swept_later(bot)  # past the grace of a post whose maker may still be at it
    posted = [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and not e.thread_ts]
    assert len(posted) == 1 and "Development daily" in posted[0].text, posted


def test_an_oversized_command_is_refused_and_nothing_is_sent(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command("update acme/app-db bp03devday name=" + "x" * 5000)
    assert "the most is 4000" in reply.ack_text and planetscale.calls() == []


def test_a_workflow_functions_token_never_reaches_the_client_every_request_shares(bot: Bot) -> None:
    """Every request's listeners share one client: a token Bolt set on it for one request would be used for all."""
    now = time.time()
    body = json.dumps({
        "token": "verification-token-unused", "team_id": TEAM_ID, "api_app_id": APP_ID, "type": "event_callback",
        "event": {"type": "function_executed", "function": {"id": "Fn0123456789", "callback_id": "sample",
                                                            "title": "Sample", "type": "app"},
                  "inputs": {}, "function_execution_id": "Fx0123456789", "workflow_execution_id": "Wf0123456789",
                  "event_ts": f"{now:.6f}", "bot_access_token": "xwfp-0000-function-token"},
        "event_id": "Ev0123456789", "event_time": int(now), "authorizations": [
            {"team_id": TEAM_ID, "user_id": "U0BACKUPBOT", "is_bot": True, "is_enterprise_install": False}],
    })
    bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))
    assert bot.app.client.token == BOT_TOKEN
    assert bot.command("list acme/app-db").private


def test_a_slack_answer_whose_content_encoding_is_not_its_body_is_a_failure_in_words(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """`Content-Encoding: gzip` on a body that is not gzip: Slack's answer cannot be read, which is told as a failed
    call, not raised past the handler. Slack answered, so it may have made the post: the person is told it was not
    confirmed, and it is not posted again through the response URL (tests/handlers/commands/
    test_a_post_slack_took_with_an_unreadable_answer.py)."""
    bot.slack.add_fault(MethodFault("chat.postMessage", headers={"Content-Encoding": "gzip"}, times=None))
    reply = bot.command("update acme/app-db bp03devday retention=9d")
    assert len(planetscale.calls("PATCH")) == 1
    assert [e.action for e in bot.audit.all()] == ["requested", "sending", "applied"]
    assert reply.public == [] and "did not confirm its post" in reply.all_text(), reply.all_text()


def test_a_planetscale_answer_whose_content_encoding_is_not_its_body_is_told_in_words(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_fault(Fault(status=200, body='{"data": []}', headers={"Content-Encoding": "gzip"}, times=None))
    reply = bot.command("list acme/app-db")
    text = json.dumps([reply.ack, *[e.text for e in reply.events]])
    assert "Content-Encoding" in text and "Something went wrong" not in text, text

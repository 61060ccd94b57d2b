"""`backup-bot socket` sent envelopes of shapes Slack does not send, in one burst with good ones: a payload that
is null or a list, no envelope_id, no type or an unknown one, a binary frame, JSON that is not an object, the same
envelope twice, and Slack's `disconnect` in the middle. The connection stays up, every envelope with an ID is
acked, every good command is answered once and the change is applied once, and the log holds no traceback."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from processes import command, serve_env, wait_until
from test_socket_mode_when_slack_refuses import APP_TOKEN, socket_process

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import socket_envelope

DISCONNECT = {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "emulator"}}


def test_a_burst_of_odd_envelopes_leaves_every_good_one_answered_once_and_each_acked(
        tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any,
        planetscale_server: Any) -> None:
    slack.app_token = APP_TOKEN
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_LOG_FORMAT": "text", "BACKUP_BOT_WATCH_EVERY": "off"}
    url = slack_server[1].url
    shows = {f"g{i}": dict(parse_qsl(command("show acme/app-db bp03devday", url, trigger=f"{i}.{i}",
                                             response=str(i)))) for i in range(5)}
    change = dict(parse_qsl(command("update acme/app-db bp03devday retention=9d", url, trigger="9.9",
                                    response="change")))
    process = socket_process(tmp_path, env)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        with slack.lock:
            slack.socket_outbox.extend([
                socket_envelope("slash_commands", shows["g0"], "g0"),
                socket_envelope("slash_commands", None, "null"),  # type: ignore[arg-type]
                socket_envelope("slash_commands", [1, 2], "list"),  # type: ignore[arg-type]
                {"type": "slash_commands", "payload": shows["g1"]},  # no envelope_id: nothing to ack
                {"envelope_id": "notype", "payload": shows["g1"]},  # no type: slack_sdk hands it to nobody
                socket_envelope("something_new", shows["g2"], "g2"),
                b"\x00\x01 a binary frame",
                socket_envelope("slash_commands", change, "change"),
                socket_envelope("slash_commands", change, "change"),
                DISCONNECT,
                socket_envelope("slash_commands", shows["g3"], "g3"),
                "[1, 2]", "null", '"text"', "{}",
                socket_envelope("slash_commands", shows["g4"], "g4"),
            ])
        wait_until(lambda: slack.socket_connections >= 2, "the app did not connect again after the disconnect")
        ids = {"g0", "null", "list", "notype", "g2", "change", "g3", "g4"}
        wait_until(lambda: ids <= {a.get("envelope_id") for a in slack.socket_acks}, "an envelope was not acked")
        deadline = time.monotonic() + 60  # then the counts below say which is missing
        while len([e for e in slack.events if e.kind in ("response", "message")]) < 5 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # room for a second answer or application, were there one
    finally:
        process.terminate()
        process.wait(timeout=30)
    logged = (tmp_path / "socket.log").read_text()
    assert "Traceback" not in logged, logged[-3000:]
    acked = Counter(a.get("envelope_id") for a in slack.socket_acks)
    assert {i: acked[i] for i in ids - {"change"}} == dict.fromkeys(ids - {"change"}, 1), acked
    answered = Counter(e.response_key for e in slack.events if e.kind == "response")
    assert answered == Counter({"0": 1, "2": 1, "3": 1, "4": 1}), answered
    assert acked["change"] == 2  # once each time Slack sent it
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]
    assert len([e for e in slack.events if e.kind == "message"]) == 1  # the change, told once in the channel


def test_envelopes_whose_parts_bolt_reads_first_are_acked_and_ignored_and_the_next_is_answered(
        tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any,
        planetscale_server: Any) -> None:
    """A team, user, channel or enterprise of another type, or authorizations or a form's response URLs that are not
    a list of objects: Bolt reads them as it makes its request of the payload, before any middleware, and raised
    with no ack (Slack sends it again, three times)."""
    slack.app_token = APP_TOKEN
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_LOG_FORMAT": "text", "BACKUP_BOT_WATCH_EVERY": "off"}
    url = slack_server[1].url
    good = dict(parse_qsl(command("show acme/app-db bp03devday", url, trigger="1.1", response="1")))
    odd = {"team": {**good, "team": 5}, "authorizations": {**good, "authorizations": 5},
           "user": {**good, "user": 5}, "enterprise": {**good, "enterprise": [1]}}
    form = {"type": "view_submission", "user": {"id": "U0ALICE001"}, "response_urls": [5], "view": {
        "id": "V0ODD", "type": "modal", "callback_id": "edit_form", "private_metadata": "{}", "state": {"values": {}}}}
    process = socket_process(tmp_path, env)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        with slack.lock:
            slack.socket_outbox.extend([*(socket_envelope("slash_commands", payload, name)
                                          for name, payload in odd.items()),
                                        socket_envelope("interactive", form, "response_urls"),
                                        socket_envelope("slash_commands", good, "good")])
        wait_until(lambda: {*odd, "response_urls", "good"} <= {a.get("envelope_id") for a in slack.socket_acks},
                   "an envelope was not acked")
        wait_until(lambda: [e for e in slack.events if e.kind == "response"], "the good command was not answered")
        time.sleep(2)  # room for another answer, were there one
    finally:
        process.terminate()
        process.wait(timeout=30)
    logged = (tmp_path / "socket.log").read_text()
    assert "Traceback" not in logged, logged[-3000:]
    assert Counter(a.get("envelope_id") for a in slack.socket_acks) == Counter([*odd, "response_urls", "good"])
    assert [e.response_key for e in slack.events if e.kind == "response"] == ["1"]

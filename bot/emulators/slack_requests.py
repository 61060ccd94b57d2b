"""Requests as Slack sends them to the app: real payload shapes, signed with the signing secret.

Used by the console, the tests and the benchmark, so all three drive the app exactly as Slack does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0DEMO0001"
APP_ID = "A0BACKUPBOT"


def signed_headers(signing_secret: str, body: str, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> dict[str, str | Sequence[str]]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=stamp, body=body) or ""
    return {"content-type": content_type, "x-slack-request-timestamp": stamp, "x-slack-signature": signature}


def slash_command_body(text: str, *, user_id: str, user_name: str, channel_id: str, channel_name: str,
                       response_url: str, trigger_id: str, command: str = "/backup-policy") -> str:
    return urlencode({
        "token": "verification-token-unused", "team_id": TEAM_ID, "team_domain": "demo",
        "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id, "user_name": user_name,
        "command": command, "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": trigger_id,
    })


def block_actions_body(*, user_id: str, user_name: str, channel_id: str, action: dict[str, Any],
                       response_url: str, trigger_id: str, message: dict[str, Any] | None = None,
                       view: dict[str, Any] | None = None) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "demo"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID, "token": "verification-token-unused", "trigger_id": trigger_id,
        "container": {"type": "view", "view_id": view["id"]} if view else
                     {"type": "message", "message_ts": (message or {}).get("ts"), "channel_id": channel_id,
                      "is_ephemeral": False},
        "channel": {"id": channel_id, "name": "channel"}, "response_url": response_url,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }
    if message is not None:
        payload["message"] = message
    if view is not None:
        payload["view"] = view
        if view.get("type") == "home":  # a click on the Home tab belongs to no channel and has no response URL
            del payload["channel"], payload["response_url"]
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(*, user_id: str, user_name: str, view: dict[str, Any],
                         values: dict[str, dict[str, Any]], trigger_id: str | None = None) -> str:
    """A modal's submission; `values` is Slack's view.state.values (block_id → action_id → typed value). Each
    submission has its own trigger_id, as Slack's do."""
    trigger_id = trigger_id or f"{time.time_ns()}.view"
    payload = {
        "type": "view_submission", "team": {"id": TEAM_ID, "domain": "demo"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID, "token": "verification-token-unused", "trigger_id": trigger_id,
        "view": {**view, "state": {"values": values}, "team_id": TEAM_ID, "app_id": APP_ID,
                 "root_view_id": view.get("id"), "previous_view_id": None},
        "response_urls": [], "is_enterprise_install": False, "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def state_values(view: dict[str, Any], changes: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The state Slack would submit for `view` as filled in (initial values), with `changes` typed over them."""
    values: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        kind, typed = element["type"], (changes or {}).get(block["block_id"], ...)
        if kind == "static_select":
            initial = (element.get("initial_option") or {}).get("value")
            chosen = initial if typed is ... else typed
            option = next((o for o in element["options"] if o["value"] == chosen), None)
            state: dict[str, Any] = {"type": kind, "selected_option": option if option or chosen is None else
                                     {"text": {"type": "plain_text", "text": str(chosen)}, "value": str(chosen)}}
        elif kind == "multi_static_select":
            chosen = [o["value"] for o in element.get("initial_options") or []] if typed is ... else typed
            state = {"type": kind, "selected_options": [o for o in element["options"] if o["value"] in chosen]}
        elif kind == "timepicker":
            state = {"type": kind, "selected_time": element.get("initial_time") if typed is ... else typed}
        else:
            state = {"type": kind, "value": element.get("initial_value") if typed is ... else typed}
        values[block_id] = {element["action_id"]: state}
    return values


def socket_envelope(kind: str, payload: dict[str, Any], envelope_id: str) -> dict[str, Any]:
    """What Slack sends over Socket Mode: `slash_commands` or `interactive`, with the same payload as HTTP."""
    return {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True}


def app_home_opened_body(*, user_id: str, event_id: str, tab: str = "home") -> str:
    """The Events API callback Slack sends when someone opens the app's Home (sent as JSON)."""
    now = time.time()
    return json.dumps({
        "token": "verification-token-unused", "team_id": TEAM_ID, "api_app_id": APP_ID, "type": "event_callback",
        "event": {"type": "app_home_opened", "user": user_id, "channel": "D" + user_id[1:], "tab": tab,
                  "event_ts": f"{now:.6f}"},
        "event_id": event_id, "event_time": int(now), "authorizations": [
            {"team_id": TEAM_ID, "user_id": "U0BACKUPBOT", "is_bot": True, "is_enterprise_install": False}],
    })

"""Whether a signed request's body has a shape Slack sends, read as Bolt reads it (JSON, or a form with or without a
`payload`): what is not would raise in Bolt's parsers (a 500 and a traceback) or fall through as unhandled."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from bot.domain.commands import is_slack_id


def form_misread(raw: str, content_type: str | None) -> dict[str, str] | None:
    """The fields of a form Bolt read as empty, else None: Bolt takes any body holding the text `payload` (in a
    reason, a channel's name, the workspace's domain) for an interaction, and finding no `payload` field reads
    nothing, so a slash command would be dropped."""
    if not raw or content_type == "application/json" or raw.startswith("{") or "payload" not in raw:
        return None
    form = dict(parse_qsl(raw, keep_blank_values=True))
    return None if "payload" in form else form


# What the Events API sends as JSON; Slack sends interactions as a form, but Bolt reads one sent as JSON all the same.
EVENT_TYPES = ("event_callback", "url_verification", "app_rate_limited")


def shape_problem(body: str, content_type: str | None) -> str | None:
    """Why `body` is not a request Slack sends, or None if it is one."""
    if not body:
        return "The request body is empty"
    if (content_type or "").split(";")[0].strip().lower() == "application/json" or body.startswith("{"):
        parsed = _json(body)
        if not isinstance(parsed, dict):
            return "The JSON body is not an object"
        return _json_problem(parsed)
    form = dict(parse_qsl(body, keep_blank_values=True))
    if "payload" in form:
        payload = _json(form["payload"])
        return _payload_problem(payload) or _json_problem(payload)
    if "command" in form:
        return _json_problem(form)
    if form.get("ssl_check") == "1":  # Bolt answers it before any listener; any other value goes on to them
        return None
    return "The form holds neither a slash command nor an interaction payload"


# Where Bolt looks, at each depth, for the team, user and channel of a request as it makes one (before any
# middleware), and what it takes there: text, or an object holding the ID.
CONTEXT_PARTS = ("enterprise", "team", "user", "channel")
CONTEXT_DEPTHS = ("event", "message", "previous_message", "item", "assistant_thread")


def _context_problem(body: dict[str, Any], where: str = "The body's") -> str | None:
    for key in CONTEXT_PARTS:
        if body.get(key) is not None and not isinstance(body[key], str | dict):
            return f"{where} `{key}` is neither an ID nor an object"
    for key in ("authorizations", "response_urls"):
        if body.get(key) is not None and not (isinstance(body[key], list)
                                              and all(isinstance(a, dict) for a in body[key])):
            return f"{where} `{key}` is not a list of objects"
    inner = [(key, body[key]) for key in CONTEXT_DEPTHS if isinstance(body.get(key), dict)]
    inner += [("authorizations", first) for first in (body.get("authorizations") or [])[:1]]
    return next(filter(None, (_context_problem(part, f"The `{key}`'s") for key, part in inner)), None)


def _json_problem(body: dict[str, Any]) -> str | None:
    """Why a body is not one Slack sends, read as each of Bolt's listeners may take it: a command by its `command`,
    an interaction by its `type`, an event by its `event`, whatever else it holds beside."""
    if problem := _context_problem(body):
        return problem
    kind = body.get("type")
    interaction = isinstance(kind, str) and kind not in EVENT_TYPES
    event = "event" in body or kind in EVENT_TYPES
    if "command" in body and (problem := _command_problem(body)):
        return problem
    if interaction and (problem := _payload_problem(body)):
        return problem
    if event or not ("command" in body or interaction):
        return _event_problem(body)
    return None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None


# What Bolt reads of a body (its context: team, enterprise, channel, user, the reply's addresses) with `.get`
# or as text: any other type there raises inside Bolt (a 500 and a traceback) or in the work after the ack.
OBJECTS = ("team", "enterprise", "channel", "container", "message", "view", "user")
TEXTS = ("type", "team_id", "enterprise_id", "api_app_id", "trigger_id", "response_url", "callback_id",
         "event_id", "channel_id", "user_id", "token")


# An ID holding anything but letters and digits (NUL, a lone surrogate, a bidi mark), or longer than the store keeps,
# is no request Slack sends, and each write about it (the audit trail, a request) would fail after the ack on
# PostgreSQL.
def _command_problem(command: dict[str, Any]) -> str | None:
    user = command.get("user_id")
    if not (isinstance(user, str) and user and isinstance(command.get("command"), str)):
        return "The slash command has no user_id"
    if not isinstance(command.get("text", ""), str):
        return "The slash command's text is not text"
    if problem := _parts_problem(command, "The slash command's"):  # its team, user or channel, as Bolt reads them
        return problem
    # Slack sends each with every command, and the listener reads them as it answers (a form opens on trigger_id).
    for key in ("channel_id", "trigger_id", "response_url"):
        if not (isinstance(command.get(key), str) and command[key]):
            return f"The slash command has no {key}"
    return (_ids_problem(user, command.get("channel_id"), "The slash command's")
            or _url_problem(command.get("response_url"), "The slash command's"))


def _ids_problem(user: Any, channel: Any, where: str) -> str | None:
    if isinstance(user, str) and not is_slack_id(user):
        return f"{where} user ID is not a Slack ID (letters and digits, at most 32)"
    if isinstance(channel, str) and channel and not is_slack_id(channel):
        return f"{where} channel ID is not a Slack ID (letters and digits, at most 32)"
    return None


# A response URL is Slack's, in printable ASCII: one holding a control character (NUL) or a space no HTTP client
# sends to, and the answer to the command would fail after the ack, told to nobody.
RESPONSE_URL = re.compile(r"https?://[!-~]+")


def _url_problem(url: Any, where: str) -> str | None:
    if isinstance(url, str) and url and not RESPONSE_URL.fullmatch(url):
        return f"{where} response_url is not an http(s) URL of printable ASCII"
    return None


def _parts_problem(body: dict[str, Any], where: str) -> str | None:
    authorizations = body.get("authorizations")
    if authorizations is not None and not (isinstance(authorizations, list)
                                           and all(isinstance(a, dict) for a in authorizations)):
        return f"{where} `authorizations` is not a list of objects"
    for key in OBJECTS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            return f"{where} `{key}` is not an object"
    for key in TEXTS:
        if body.get(key) is not None and not isinstance(body[key], str):
            return f"{where} `{key}` is not text"
    return None


def _event_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The JSON body is not an object"
    if not isinstance(body.get("type"), str):
        return "The JSON body has no `type`"
    if problem := _parts_problem({k: v for k, v in body.items() if k != "user"}, "The body's"):
        return problem
    event = body.get("event")
    if "event" in body and not isinstance(event, dict):
        return "The `event` is not an object"
    if isinstance(event, dict) and "user" in event and not isinstance(event["user"], str | dict):
        return "The event's `user` is neither an ID nor an object"
    if isinstance(event, dict) and event.get("type") == "app_home_opened" and not isinstance(event.get("user"), str):
        return "The app_home_opened event has no user ID"  # whose Home it is: nobody's would be published
    if isinstance(event, dict):
        return _ids_problem(event.get("user"), event.get("channel"), "The event's")
    return None


def _payload_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "The payload is not a JSON object"
    if not isinstance(payload.get("type"), str):
        return "The payload has no `type`"
    user = payload.get("user")
    if not (isinstance(user, dict) and isinstance(user.get("id"), str)):
        return "The payload has no `user` with an `id`"
    if "view" in payload and not isinstance(payload["view"], dict):
        return "The payload's `view` is not an object"
    if "view" in payload and not (isinstance(payload["view"].get("id"), str)
                                  and isinstance(payload["view"].get("type"), str)):
        return "The payload's `view` has no `id` and `type`"
    # A submitted form's fields are answered beside each field (state_errors), not ignored: an empty ack closes it.
    # A form showing no field to answer beside has its values checked here, as any other view's.
    view = payload.get("view") or {}
    if problem := _view_problem(view, fields=payload["type"] != "view_submission" or not _shown_fields(view)):
        return problem
    if problem := _parts_problem(payload, "The payload's"):
        return problem
    container = payload.get("container") or {}
    channel = (payload.get("channel") or {}).get("id") or container.get("channel_id") or payload.get("channel_id")
    if problem := _ids_problem(user["id"], channel, "The payload's") or _url_problem(payload.get("response_url"),
                                                                                     "The payload's"):
        return problem
    actions = payload.get("actions")
    if "actions" in payload and not (isinstance(actions, list) and all(isinstance(a, dict) for a in actions)):
        return "The payload's `actions` is not a list of objects"
    # Bolt takes a click's first action and matches its action_id as text, before any listener.
    if payload["type"] == "block_actions" and not (
            actions and all(isinstance(a.get("action_id"), str) for a in actions)):
        return "The click has no action, or an action without an action_id in text"
    # Bolt reads a workflow step's edit and its form's submission by their `workflow_step`.
    if (payload["type"] == "workflow_step_edit" or view.get("type") == "workflow_step") and \
            not isinstance(payload.get("workflow_step"), dict):
        return "The workflow step's payload has no `workflow_step` object"
    return None


# A view's fields the handlers read as text, and what a state's input element holds, by the key Slack gives it.
VIEW_TEXTS = ("id", "type", "callback_id", "private_metadata")
ELEMENT_TEXTS = ("type", "value", "selected_time")


def _view_problem(view: dict[str, Any], fields: bool = True) -> str | None:
    """Why a view's state is not one Slack sends: `state.values` is block ID → action ID → element, and each
    element holds text, an option or a list of options; `fields`: whether each block is checked too."""
    for key in VIEW_TEXTS:
        if view.get(key) is not None and not isinstance(view[key], str):
            return f"The view's `{key}` is not text"
    if view.get("blocks") is not None and not isinstance(view["blocks"], list):
        return "The view's `blocks` is not a list"
    state = view.get("state")
    if state is None:
        return None
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(state, dict) or (values is not None and not isinstance(values, dict)):
        return "The view's `state` is not an object of values"
    return next(filter(None, map(_block_problem, (values or {}).values())), None) if fields else None


def _block_problem(actions: Any) -> str | None:
    if not isinstance(actions, dict) or not all(isinstance(e, dict) for e in actions.values()):
        return "The view's state holds a block that is not an object of elements"
    for element in actions.values():
        if any(element.get(key) is not None and not isinstance(element[key], str) for key in ELEMENT_TEXTS):
            return "The view's state holds an element whose value is not text"
        chosen = element.get("selected_options")
        options = [element.get("selected_option")] if chosen is None else chosen
        if not isinstance(options, list) or not all(
                o is None or (isinstance(o, dict) and isinstance(o.get("value"), str)) for o in options):
            return "The view's state holds an option that is not an object with a `value`"
    return None


FIELD_DAMAGED = ("This field sent a value of a kind it does not take (not the text or choice the form shows): fill "
                 "it in again, or close the form and open it again. Nothing was sent.")


def _shown_fields(view: dict[str, Any]) -> dict[str, Any]:
    """Each input block the view shows, by block ID, and the kind of element it shows there."""
    shown = view.get("blocks")
    return {b["block_id"]: (b.get("element") or {}).get("type") for b in shown if isinstance(b, dict)
            and b.get("type") == "input" and isinstance(b.get("block_id"), str)
            and isinstance(b.get("element") or {}, dict)} if isinstance(shown, list) else {}


def state_errors(body: object) -> dict[str, str]:
    """A submitted form's fields whose values are not of a kind Slack sends (a number or an object where text goes,
    an option without its value), by block ID as `response_action: errors` shows them beside each field; a block
    the form does not show is told on its first field. Empty when every field holds what Slack sends."""
    view = body.get("view") if isinstance(body, dict) and body.get("type") == "view_submission" else None
    if not isinstance(view, dict):
        return {}
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return {}
    shown = _shown_fields(view)
    errors: dict[str, str] = {}
    for block_id, actions in values.items():
        wrong = _block_problem(actions) is not None or any(
            isinstance(kind := shown.get(block_id), str) and element.get("type") not in (None, kind)
            for element in actions.values())
        field = block_id if block_id in shown else next(iter(shown), None)
        if wrong and field is not None:
            errors.setdefault(field, FIELD_DAMAGED)
    return errors


def body_problem(body: object) -> str | None:
    """Why a body as Bolt parsed it is not one Slack sends: for Socket Mode, whose envelopes never pass the HTTP
    door's check (shape_problem)."""
    if not isinstance(body, dict):
        return "The body is not an object"
    if "command" not in body and "event" not in body and body.get("type") not in EVENT_TYPES:
        # Socket Mode's interactions: no `type` is no interaction either.
        return _context_problem(body) or _payload_problem(body)
    return _json_problem(body)

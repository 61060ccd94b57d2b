"""The buttons on change requests: Approve, Reject, Cancel, and Revert on an applied change. Each click is one
call on the change path; the outcome is shown on the request's message and told to the person who clicked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_shapes import error_of
from bot.domain.naming import outside
from handlers import blocks, channel_history
from handlers.asked import report_change
from handlers.bulk_posting import report_request_step
from handlers.dependencies import Dependencies
from handlers.home import publish_warning
from handlers.posting import has_response_url, say_privately

log = logging.getLogger(__name__)


def clicked_in(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")


def clicked_message(body: dict[str, Any]) -> tuple[str, str] | None:
    """The (channel, ts) of the channel message the click came from; None on the App Home or an ephemeral one."""
    container = body.get("container") or {}
    if container.get("type") != "message" or container.get("is_ephemeral"):
        return None
    channel, ts = clicked_in(body), str(container.get("message_ts") or "")
    return (channel, ts) if channel and ts else None


NO_CHANNEL = ("{button} works only on a message in a channel, where the bot posts what it asks there: nothing was "
              "asked. Click it on that message, or use `/backup-policy` in the channel.")


def in_no_channel(deps: Dependencies, client: WebClient, body: dict[str, Any], button: str) -> bool:
    """Whether the click names no channel, and so asks nothing, told on the clicker's Home: a change asked in no
    channel would be posted nowhere. The App Home shows none of these buttons (an old or forged Home's click)."""
    if clicked_in(body):
        return False
    deps.background.run(publish_notice, deps, client, body["user"]["id"], NO_CHANNEL.format(button=button))
    return True


def on_decision(deps: Dependencies, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                respond: Respond | None, client: WebClient) -> None:
    ack()
    # A click on the App Home brings no response URL: the answer goes on the clicker's Home.
    answer: Callable[[str], None] = partial(publish_notice, deps, client, body["user"]["id"])
    if respond is not None and has_response_url(respond):
        answer = partial(tell, respond)
    deps.background.run_answered(answer, decide, deps, str(action.get("action_id")), str(action.get("value") or ""),
                                 body["user"]["id"], respond, client, clicked_message(body))


def decide(deps: Dependencies, action_id: str, request_id: str, user: str, respond: Respond | None,
           client: WebClient, clicked_on: tuple[str, str] | None = None) -> None:
    step = {blocks.APPROVE: deps.changes.approve, blocks.REJECT: deps.changes.reject,
            blocks.CANCEL: deps.changes.cancel}[action_id]
    report_request_step(deps, client, step(request_id, user), respond, actor=user, clicked_on=clicked_on)
    tell_rules_problem(deps, client, user, respond)


def tell_rules_problem(deps: Dependencies, client: WebClient, user: str, respond: Respond | None) -> None:
    """An approver's click judged while the access file's latest version is refused: told so, privately (where
    they clicked, else in the bot's direct message), by the file's name and line alone, never its contents."""
    problem = deps.access.source.problem
    if problem is None:
        return
    where = f", line {problem.line}" if problem.line is not None else ""
    text = (f"The access rules file {outside(problem.file)} has a change the bot could not read{where}; the "
            "bot's admins see why in its log and at /healthz. Your click was judged under the last good rules, "
            "still in force: nothing in them changed.")
    if respond is not None and has_response_url(respond):
        say_privately(respond, blocks.error_text(text))
        return
    try:
        channel_history.post_directly(client, user, blocks.error_text(text), what="the access file's notice")
    except (SlackApiError, OSError) as exc:
        log.error("could not tell %s that the access rules file was not reloaded: %s", user, error_of(exc))


def on_revert(deps: Dependencies, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
              client: WebClient) -> None:
    ack()
    if in_no_channel(deps, client, body, "Revert"):
        return
    deps.background.run_answered(partial(tell, respond), revert, deps, str(action.get("value") or ""),
                                 body["user"]["id"], clicked_in(body), respond, client)


def revert(deps: Dependencies, request_id: str, user: str, channel: str, respond: Respond,
           client: WebClient) -> None:
    report_change(deps, client, deps.changes.revert(request_id, user, channel), respond)


def publish_notice(deps: Dependencies, client: WebClient, user: str, message: str) -> None:
    publish_warning(deps, client, user, message)


def tell(respond: Respond, message: str) -> None:
    say_privately(respond, blocks.error_text(message))


def register(app: App, deps: Dependencies) -> None:
    for action_id in (blocks.APPROVE, blocks.REJECT, blocks.CANCEL):
        app.action(action_id)(partial(on_decision, deps))
    app.action(blocks.REVERT)(partial(on_revert, deps))

"""How a change and its request reach Slack and stay true there: posted once, then updated at every step."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.access import mentions
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.changes import Outcome, OutcomeKind
from handlers import blocks
from handlers.dependencies import Dependencies

log = logging.getLogger(__name__)


def say_privately(respond: Respond, text: str, result_blocks: list[dict[str, Any]] | None = None) -> None:
    answer = respond(text=text, blocks=result_blocks, response_type="ephemeral", replace_original=False)
    if answer.status_code != 200:
        log.error("could not answer through the response URL: HTTP %s", answer.status_code)


def request_message(deps: Dependencies, request: ChangeRequest) -> tuple[str, list[dict[str, Any]]]:
    return blocks.request_headline(request), blocks.request_blocks(request, deps.store.approvers_of(request.id))


def report_change(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond) -> None:
    """A change asked from a command or a button: the request or result in the channel, the rest to the caller."""
    if outcome.kind is OutcomeKind.PREVIEWED and outcome.plan is not None:
        say_privately(respond, "Dry run: nothing was sent", blocks.dry_run_blocks(outcome.plan, outcome.approvals,
                                                                           outcome.guardrails))
    elif outcome.kind in (OutcomeKind.REQUESTED, OutcomeKind.WAITING) and outcome.request is not None:
        publish(deps, client, outcome.request, respond)
        needed = outcome.request.approvals_needed
        say_privately(respond, f"Your change needs {needed} approval(s) from {mentions(outcome.request.approvers)}: "
                               "the request is in the channel, and nothing is sent to PlanetScale until then.")
    elif outcome.kind is OutcomeKind.APPLIED and outcome.request is not None:
        publish(deps, client, outcome.request, respond)
    else:
        say_privately(respond, blocks.error_text(outcome.message))


def report_step(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond | None) -> None:
    """A step on an existing request (a click, the sweep): its message shows the truth, the actor hears why."""
    if outcome.request_moved and outcome.request is not None:
        refresh(deps, client, outcome.request, respond)
    if respond is not None and outcome.kind not in (OutcomeKind.APPLIED, OutcomeKind.REJECTED,
                                                    OutcomeKind.CANCELLED):
        say_privately(respond, outcome.message if outcome.kind is OutcomeKind.COUNTED
                      else blocks.error_text(outcome.message))


def publish(deps: Dependencies, client: WebClient, request: ChangeRequest, respond: Respond | None) -> None:
    """Post the request's message in its channel, remembering where it is so that it can be updated."""
    text, request_blocks = request_message(deps, request)
    try:
        answer = client.chat_postMessage(channel=request.channel, text=text, blocks=request_blocks)
        deps.store.set_message(request.id, str(answer["channel"]), str(answer["ts"]))
    except SlackApiError as exc:
        # Private channels and DMs the bot is not in: the command's response URL still reaches them, and
        # button clicks on that message bring a response URL to update it with.
        log.warning("chat.postMessage to %s failed (%s); answering through the response URL", request.channel,
                    exc.response.get("error"))
        if respond is None or respond(text=text, blocks=request_blocks, response_type="in_channel").status_code != 200:
            log.error("request %s could not be shown in %s", request.id, request.channel)
            if respond is not None:
                say_privately(respond, blocks.error_text(
                    f"This could not be posted to the channel ({exc.response.get('error')}); the request is "
                    f"`{request.id[:8]}` and `/backup-policy pending` lists it."))
    if request.state is RequestState.APPLIED:
        to_audit_channel(deps, client, request)


def refresh(deps: Dependencies, client: WebClient, request: ChangeRequest, respond: Respond | None = None) -> None:
    """Show the request's current state on its message."""
    latest = deps.store.get_request(request.id) or request
    text, request_blocks = request_message(deps, latest)
    if latest.message_ts and latest.message_channel:
        try:
            client.chat_update(channel=latest.message_channel, ts=latest.message_ts, text=text, blocks=request_blocks)
        except SlackApiError as exc:
            log.error("could not update the message of request %s: %s", request.id, exc.response.get("error"))
    elif respond is not None:
        respond(text=text, blocks=request_blocks, replace_original=True)
    if latest.state is RequestState.APPLIED and request.state is RequestState.APPLIED:
        to_audit_channel(deps, client, latest)


def to_audit_channel(deps: Dependencies, client: WebClient, request: ChangeRequest) -> None:
    if not deps.audit_channel or deps.audit_channel == request.channel:
        return
    text, request_blocks = request_message(deps, request)
    record = [b for b in request_blocks if b.get("type") != "actions"]  # a record: its buttons belong elsewhere
    try:
        client.chat_postMessage(channel=deps.audit_channel, text=text, blocks=record)
    except SlackApiError as exc:
        log.error("could not post to the audit channel %s: %s", deps.audit_channel, exc.response.get("error"))

"""The buttons on a bulk change: Approve, Reject, Cancel, and Retry for the policies that were not applied. Each
click is one call on the bulk door; its message shows the truth and the clicker hears why when it is not that."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers import bulk_blocks
from handlers.actions.requests import (
    clicked_in,
    clicked_message,
    in_no_channel,
    publish_notice,
    tell,
    tell_rules_problem,
)
from handlers.bulk_posting import report_batch, report_batch_step
from handlers.dependencies import Dependencies
from handlers.posting import has_response_url


def on_batch_decision(deps: Dependencies, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                      respond: Respond, client: WebClient) -> None:
    ack()
    # A click on the App Home brings no response URL: the answer goes on the clicker's Home.
    answer: Callable[[str], None] = partial(publish_notice, deps, client, body["user"]["id"])
    if has_response_url(respond):
        answer = partial(tell, respond)
    deps.background.run_answered(answer, decide_batch, deps, str(action.get("action_id")),
                                 str(action.get("value") or ""), body["user"]["id"], respond, client,
                                 clicked_message(body))


def decide_batch(deps: Dependencies, action_id: str, batch_id: str, user: str, respond: Respond,
                 client: WebClient, clicked_on: tuple[str, str] | None) -> None:
    step = {bulk_blocks.BULK_APPROVE: deps.bulk.approve, bulk_blocks.BULK_REJECT: deps.bulk.reject,
            bulk_blocks.BULK_CANCEL: deps.bulk.cancel}[action_id]
    report_batch_step(deps, client, step(batch_id, user), respond, clicked_on, actor=user)
    tell_rules_problem(deps, client, user, respond)


def on_retry(deps: Dependencies, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
             client: WebClient) -> None:
    ack()
    if in_no_channel(deps, client, body, "Retry"):
        return
    deps.background.run_answered(partial(tell, respond), retry, deps, str(action.get("value") or ""),
                                 body["user"]["id"], clicked_in(body), respond, client)


def retry(deps: Dependencies, batch_id: str, user: str, channel: str, respond: Respond, client: WebClient) -> None:
    report_batch(deps, client, deps.bulk.retry(batch_id, user, channel), respond)


def register(app: App, deps: Dependencies) -> None:
    for action_id in (bulk_blocks.BULK_APPROVE, bulk_blocks.BULK_REJECT, bulk_blocks.BULK_CANCEL):
        app.action(action_id)(partial(on_batch_decision, deps))
    app.action(bulk_blocks.BULK_RETRY)(partial(on_retry, deps))

"""The form that makes a new policy (`/backup-policy create <db>` with no settings): filled, previewed with what
it costs and what it needs (the change path's own dry run), then asked through the change path like the command.
Nothing is judged here: the change path judges when it is asked and again when it applies."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.commands import DatabaseRef
from bot.domain.outcomes import OutcomeKind
from bot.domain.policy import EDITABLE_FIELDS, PolicyUpdate, check_new
from handlers import blocks
from handlers.dependencies import Dependencies
from handlers.posting import say_privately
from handlers.views.edit import EditMetadata, filled, read_metadata, show_asked, show_failure, views_open_failure
from handlers.views.edit_values import form_values

log = logging.getLogger(__name__)
# What the form starts with: a daily development policy kept a week (the metadata carries it as a policy, with
# no ID, so that the frequency's day and week fields come and go as in the edit form).
STARTING = {"id": "", "required": False, "name": "New policy", "target": "development", "retention_value": 7,
            "retention_unit": "day", "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00",
            "schedule_day": None, "schedule_week": None}


def open_create(deps: Dependencies, client: WebClient, respond: Respond | None, trigger_id: str, user: str,
                channel: str, db: DatabaseRef) -> None:
    """Called after the ack: nothing needs reading before the form, so it opens filled, inside the trigger_id's
    3 seconds."""
    deps.background.run_answered_promptly(partial(tell, respond), _open, client, respond, trigger_id, channel, db)


def _open(client: WebClient, respond: Respond | None, trigger_id: str, channel: str, db: DatabaseRef) -> None:
    metadata = EditMetadata(organization=db.organization, database=db.database, channel=channel, policy=STARTING)
    try:
        client.views_open(trigger_id=trigger_id, view=blocks.edit_form_view(
            db, {**STARTING, "name": None}, metadata.dump(), callback_id=blocks.CREATE_FORM))
    except (SlackApiError, OSError) as exc:
        tell(respond, f"Slack did not open the form ({views_open_failure(exc)}); run `/backup-policy create {db}` "
                      "again.")


def tell(respond: Respond | None, message: str) -> None:
    if respond is None:
        log.warning("could not tell the person: %s", message)
        return
    say_privately(respond, blocks.error_text(message))


def on_form(deps: Dependencies, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    metadata = read_metadata(view)
    if metadata is None:
        ack(response_action="errors", errors={"name": "This form is damaged; close it and open it again."})
        return
    values, errors = form_values(view.get("state") or {})
    reason = values.pop("reason", None)
    for problem in ([] if errors else check_new(values)):
        errors.setdefault(problem.field if problem.field in EDITABLE_FIELDS else "name", problem.message[:150])
    if errors:
        ack(response_action="errors", errors=errors)
        return
    asked = metadata.model_copy(update={"update": values, "reason": reason})
    ack(response_action="update", view=blocks.message_view("New backup policy", ":hourglass_flowing_sand: "
                                                            "Reading what it would cost…"))
    view_id = str(view["id"])
    deps.background.run_answered(partial(show_failure, client, view_id), preview, deps, client, view_id,
                                 body["user"]["id"], asked)


def preview(deps: Dependencies, client: WebClient, view_id: str, user: str, metadata: EditMetadata) -> None:
    outcome = deps.changes.ask_create(user, metadata.channel, metadata.db, PolicyUpdate(**(metadata.update or {})),
                                      metadata.reason, dry_run=True)
    again = f"/backup-policy create {metadata.db}"
    if outcome.kind is not OutcomeKind.PREVIEWED or outcome.plan is None:
        title = "Not allowed" if outcome.kind is OutcomeKind.REFUSED else "Not created"
        filled(client, view_id, user, again, blocks.message_view(title, blocks.error_text(outcome.message)))
        return
    shown = blocks.dry_run_blocks(outcome.plan, outcome.approvals, outcome.guardrails)[1:-1]  # no dry-run words
    filled(client, view_id, user, again, {
        "type": "modal", "callback_id": blocks.CREATE_CONFIRM, "title": {"type": "plain_text",
                                                                         "text": "Confirm the new policy"},
        "submit": {"type": "plain_text", "text": "Request approval" if outcome.approvals else "Create"},
        "close": {"type": "plain_text", "text": "Cancel"}, "private_metadata": metadata.dump(),
        "blocks": [*shown, *blocks.to_dicts([blocks.context(
            f"It needs {blocks.plural(outcome.approvals, 'approval')}: a request will be posted in the channel."
            if outcome.approvals else "It is created at once and posted in the channel.")])]})


def on_confirm(deps: Dependencies, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    metadata = read_metadata(view)
    try:
        values = PolicyUpdate(**((metadata.update if metadata else None) or {}))
    except ValidationError:
        metadata = None
    if metadata is None or not metadata.update:
        ack(response_action="update", view=blocks.message_view("Not created", blocks.error_text(
            "This form is damaged; nothing was sent. Open it again.")))
        return
    ack(response_action="update", view=blocks.message_view("New backup policy", ":hourglass_flowing_sand: "
                                                            "Checking and creating it…"))
    view_id, user = str(view["id"]), str(body["user"]["id"])
    deps.background.run_answered(partial(show_failure, client, view_id, user=user), create, deps, client, view_id,
                                 user, metadata, values)


def create(deps: Dependencies, client: WebClient, view_id: str, user: str, metadata: EditMetadata,
           values: PolicyUpdate) -> None:
    outcome = deps.changes.ask_create(user, metadata.channel, metadata.db, values, metadata.reason)
    show_asked(deps, client, view_id, outcome, "created", user)


def register(app: App, deps: Dependencies) -> None:
    app.view(blocks.CREATE_FORM)(partial(on_form, deps))
    app.view(blocks.CREATE_CONFIRM)(partial(on_confirm, deps))

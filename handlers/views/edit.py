"""The edit modal: opened at once (loading), filled when the policy arrives, validated inline, previewed, and
applied once through the same request path as `update`."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer, field_validator
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_shapes import UnreadableAnswer, error_of
from bot.domain.change_requests import RequestState
from bot.domain.changes import ChangePlan, Outcome, OutcomeKind
from bot.domain.commands import DatabaseRef, database_ref, is_slug
from bot.domain.costs import Basis, DatabaseFacts
from bot.domain.grammar import MAX_REASON_LENGTH
from bot.domain.guardrails import Demand
from bot.domain.judge_access import approvals_asked
from bot.domain.policy import (
    EDITABLE_FIELDS,
    MAX_INT32,
    MAX_NAME_LENGTH,
    SCHEDULE_TIME,
    BackupPolicy,
    PolicyUpdate,
    check_change,
    control_character,
    first_unseen,
    invisible_character,
    shows_something,
)
from bot.domain.setting_values import is_number
from handlers import blocks
from handlers.asked import POSTS, post_asked
from handlers.dependencies import Dependencies
from handlers.posting import say_privately

log = logging.getLogger(__name__)
MAX_ERROR_TEXT = 1000  # beside one input; Slack publishes no limit, so stay readable
CHOICES = {
    "target": ("production", "development"),
    "retention_unit": ("hour", "day", "week", "month", "year"),
    "frequency_unit": ("hour", "day", "week", "month"),
    "schedule_day": tuple(str(d) for d in range(7)),
    "schedule_week": tuple(str(w) for w in range(4)),
}
NUMBER_LABELS = {"retention_value": "Keep backups for", "frequency_value": "Back up every"}


# The policy as the modal carries it: its ID and what the form shows. Slack keeps private_metadata under 3,000
# characters, so the rest of the API's fields (timestamps, and the display name that repeats the name) stay
# behind, and read back as placeholders: nothing in the modal's steps uses them.
CARRIED = ("id", "required", *EDITABLE_FIELDS)
LEFT_BEHIND: dict[str, Any] = {"created_at": "", "updated_at": "", "last_ran_at": None, "next_run_at": None}


class EditMetadata(BaseModel):
    """What the modal carries between steps (private_metadata): nothing secret, everything re-checked."""

    model_config = ConfigDict(extra="forbid")

    organization: str
    database: str
    channel: str
    policy: dict[str, Any]  # the policy as it was when the form was filled (see CARRIED)
    update: dict[str, Any] | None = None
    reason: str | None = None
    basis: dict[str, Any] | None = None  # the sizes the preview estimates the policy's storage from (costs.Basis)

    @field_validator("policy")
    @classmethod
    def _in_the_api_shape(cls, policy: dict[str, Any]) -> dict[str, Any]:
        return {**LEFT_BEHIND, "display_name": policy.get("name"), **policy}

    @field_serializer("policy")
    def _only_what_the_form_uses(self, policy: dict[str, Any]) -> dict[str, Any]:
        return {key: policy[key] for key in CARRIED if key in policy}

    @property
    def db(self) -> DatabaseRef:
        return DatabaseRef(self.organization, self.database)

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)


def read_metadata(view: dict[str, Any]) -> EditMetadata | None:
    try:
        metadata = EditMetadata.model_validate_json(view.get("private_metadata") or "")
        BackupPolicy.model_validate(metadata.policy)
    except ValidationError:
        return None
    if not (is_slug(metadata.organization) and is_slug(metadata.database)):
        return None
    return metadata


def form_values(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted form as API field values, and an error per block where a value is not acceptable."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for block_id, actions in (state.get("values") or {}).items():
        element = (actions or {}).get(block_id) or {}
        kind = element.get("type")
        if kind == "static_select":
            raw = (element.get("selected_option") or {}).get("value")
        elif kind == "timepicker":
            raw = element.get("selected_time")
        else:
            raw = element.get("value")
        if block_id in ("reason", "name") and control_character(str(raw or "")):
            errors[block_id] = (f"Remove the control character ({control_character(str(raw))}): plain text on "
                                "one line, without tabs or terminal escapes.")
        elif block_id == "name" and invisible_character(str(raw or "")):
            errors[block_id] = (f"Remove the invisible character ({invisible_character(str(raw))}, e.g. a bidi "
                                "override or a zero-width space): it would let one name pass for another.")
        elif block_id == "reason":
            values["reason"] = (raw or "").strip() or None
            if values["reason"] and not shows_something(values["reason"]):
                errors["reason"] = (f"This shows nothing: only invisible characters (such as "
                                    f"{first_unseen(values['reason'])}). Write why in words, or leave it empty.")
            elif len(values["reason"] or "") > MAX_REASON_LENGTH:
                errors["reason"] = f"At most {MAX_REASON_LENGTH} characters: this is {len(values['reason'])}."
        elif block_id == "name":
            name = str(raw or "").strip()
            if not name:
                errors["name"] = "Give the policy a name."
            elif not shows_something(name):
                errors["name"] = (f"This shows nothing: only invisible characters (such as {first_unseen(name)}). "
                                  "Give the policy a name in words.")
            elif len(name) > MAX_NAME_LENGTH:
                # Slack's input stops at 255, a payload does not: refused here, before any preview reads for it.
                errors["name"] = f"At most {MAX_NAME_LENGTH} characters (PlanetScale's limit): this is {len(name):,}."
            else:
                values["name"] = name
        elif block_id in NUMBER_LABELS:
            number, problem = form_number(NUMBER_LABELS[block_id], raw)
            if problem:
                errors[block_id] = problem
            else:
                values[block_id] = number
        elif block_id in CHOICES:
            if raw not in CHOICES[block_id]:
                errors[block_id] = "Choose one of the options."
            else:
                values[block_id] = int(raw) if block_id in ("schedule_day", "schedule_week") else raw
        elif block_id == "schedule_time":
            if not raw or not SCHEDULE_TIME.fullmatch(raw):
                errors[block_id] = "Pick a time (24-hour, UTC)."
            else:
                values[block_id] = raw
    return values, errors


def form_number(label: str, raw: Any) -> tuple[int | None, str | None]:
    """A number field as the API's integer, or what to say beside it. Slack's number input sends text, and a
    payload can carry any text, so nothing is assumed: signs, decimals, other scripts' digits, huge values."""
    text = str(raw or "").strip()
    negative = text.startswith("-")
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not is_number(digits):
        return None, "Enter a whole number, at least 1."
    significant = digits.lstrip("0")
    if negative or not significant:
        return None, f"{label} at least 1."
    # Compared by length first: int() of thousands of digits is slow, and refused past Python's limit.
    if len(significant) > len(str(MAX_INT32)) or int(significant) > MAX_INT32:
        return None, f"{label} at most {MAX_INT32}."
    return int(significant), None


def validate(metadata: EditMetadata, state: dict[str, Any]) -> tuple[PolicyUpdate | None, str | None, dict[str, str]]:
    """The same models and rules as the command; only the fields that changed make the update."""
    before = BackupPolicy.model_validate(metadata.policy)
    values, errors = form_values(state)
    reason = values.pop("reason", None)
    if errors:
        return None, reason, errors
    changed = {k: v for k, v in values.items() if before.field_value(k) != v}
    if not changed:
        return None, reason, {"name": "Nothing changed: edit a field, or Cancel."}
    try:
        update = PolicyUpdate(**changed)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "name"
            errors[field if field in EDITABLE_FIELDS else "name"] = str(error["msg"]).removeprefix("Value error, ")
        return None, reason, errors
    for problem in check_change(before, update):
        field = problem.field if problem.field in EDITABLE_FIELDS else "name"
        if field == "schedule_day" and "schedule_day" not in values:
            field = "frequency_unit"
        errors.setdefault(field, problem.message[:150])
    return (None if errors else update), reason, errors


def open_edit(deps: Dependencies, client: WebClient, respond: Respond | None, trigger_id: str, user: str,
              channel: str, db: DatabaseRef, ref: str) -> None:
    """Called in the listener, after its ack: the loading view opens right after the ack is written, inside the
    trigger_id's 3 seconds, so a slow or rate-limited `views.open` holds no ack; the rest follows."""
    deps.background.run_answered_promptly(partial(_tell, respond), _open_and_fill, deps, client, respond,
                                          trigger_id, user, channel, db, ref)


def _open_and_fill(deps: Dependencies, client: WebClient, respond: Respond | None, trigger_id: str, user: str,
                   channel: str, db: DatabaseRef, ref: str) -> None:
    try:
        opened = client.views_open(trigger_id=trigger_id, view=blocks.loading_view())
    except (SlackApiError, OSError) as exc:
        error = views_open_failure(exc)
        _tell(respond, f"Slack did not open the form ({error}). Nothing was read or changed; run "
                       f"`/backup-policy edit {db} {ref}` again in a few seconds.")
        return
    view_id = str(opened["view"]["id"])
    deps.background.run_answered(partial(show_failure, client, view_id), fill, deps, client, view_id, user, channel,
                                 db, ref)


def views_open_failure(exc: SlackApiError | OSError) -> str:
    """Why views.open failed, in a few words, logged: Slack's error code, or no answer (a timeout or a lost
    connection, which SlackHttp raises as an OSError: Slack may have opened the form, whose trigger_id is spent)."""
    if isinstance(exc, SlackApiError):
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    elif isinstance(exc, UnreadableAnswer):
        error = f"{exc}; close the form if one opened"
    else:
        error = "Slack did not answer in time" if isinstance(exc, TimeoutError) else "the connection to Slack failed"
        error += "; close the form if one opened"
    log.warning("views.open failed: %s", error)
    return error


def _tell(respond: Respond | None, message: str) -> None:
    """Say it to the person alone, where Slack gave a way to (a response URL)."""
    if respond is None:
        log.warning("could not tell the person: %s", message)
        return
    try:
        say_privately(respond, blocks.error_text(message))
    except Exception as exc:  # the response URL itself failing must not hide the first failure
        log.warning("could not tell the person (%s): %s", type(exc).__name__, message)


def fill(deps: Dependencies, client: WebClient, view_id: str, user: str, channel: str, db: DatabaseRef,
         ref: str) -> None:
    outcome = deps.changes.prepare_edit(user, channel, db, ref)
    if outcome.kind is OutcomeKind.READY and outcome.current is not None:
        policy = outcome.current
        basis = outcome.facts.before if outcome.facts else None
        metadata = EditMetadata(organization=db.organization, database=db.database, channel=channel,
                                policy=policy.model_dump(), basis=basis.to_json() if basis else None)
        carried = metadata.dump()
        if len(carried) > blocks.MAX_PRIVATE_METADATA:
            # Only a name PlanetScale holds of thousands of characters gets here: Slack's form cannot carry it.
            show(client, view_id, blocks.message_view("Too long for a form", blocks.error_text(
                f"This policy's name is too long for Slack's form to carry ({len(policy.name)} characters). "
                f"Change it with `/backup-policy update {db} {policy.id} key=value…` instead.")))
            return
        show(client, view_id, blocks.edit_form_view(db, policy.model_dump(), carried))
    elif outcome.kind is OutcomeKind.REFUSED:
        show(client, view_id, blocks.message_view("Not allowed", blocks.error_text(outcome.message)))
    else:
        title = "Cannot change it" if outcome.kind is OutcomeKind.INVALID else "Could not read it"
        show(client, view_id, blocks.message_view(title, blocks.error_text(outcome.message)))


def show(client: WebClient, view_id: str, view: dict[str, Any]) -> bool:
    """True once the form shows `view`; False when Slack did not take it (the form closed, Slack failing)."""
    try:
        client.views_update(view_id=view_id, view=view)
    except (SlackApiError, OSError) as exc:
        log.warning("views.update failed: %s", error_of(exc))
        return False
    return True


def say(client: WebClient, view_id: str, user: str | None, title: str, text: str) -> None:
    """An outcome the channel does not show, in the form, else (closed while the change was checked, or Slack
    failing) in the bot's direct message with `user`: whatever became of the form, they learn it."""
    if show(client, view_id, blocks.message_view(title, text)) or user is None:
        return
    try:
        client.chat_postMessage(channel=user, text=f"*{title}*: the change you confirmed in the form.\n{text}")
        log.info("the form's answer went to <@%s> in a direct message instead", user)
    except (SlackApiError, OSError) as exc:
        log.error("could not tell <@%s> what became of the change they confirmed in the form: %s", user,
                  error_of(exc))


def on_edit_button(deps: Dependencies, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                   client: WebClient, respond: Respond) -> None:
    ack()
    # A policy's ID is the rest of the value: PlanetScale may list one holding a `/`.
    parts = str(action.get("value") or "").split("/", 2)
    channel = (body.get("channel") or {}).get("id") or ""
    tell = respond if body.get("response_url") else None
    if len(parts) != 3 or not all(is_slug(p) for p in parts[:2]) or not parts[2]:
        deps.background.run_answered_promptly(partial(_tell, tell), _open_message, client, tell, body["trigger_id"],
                                              "This Edit button names no policy this bot can open. Nothing was read "
                                              "or changed; run `/backup-policy edit <organization>/<database> "
                                              "<policy>` instead.")
        return
    open_edit(deps, client, tell, body["trigger_id"], body["user"]["id"], channel, database_ref(parts[0], parts[1]),
              parts[2])


def _open_message(client: WebClient, respond: Respond | None, trigger_id: str, message: str) -> None:
    """A refusal in a form of its own (an App Home gives no response URL), else said to the person alone."""
    try:
        client.views_open(trigger_id=trigger_id, view=blocks.message_view("Could not open it",
                                                                          blocks.error_text(message)))
    except (SlackApiError, OSError) as exc:
        views_open_failure(exc)
        _tell(respond, message)


def on_unit_changed(deps: Dependencies, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    view = body.get("view") or {}
    metadata = read_metadata(view)
    if metadata is None:
        return
    values, _ = form_values(view.get("state") or {})
    shown = {**metadata.policy, **values}
    callback = blocks.CREATE_FORM if view.get("callback_id") == blocks.CREATE_FORM else blocks.EDIT_FORM
    deps.background.run(show, client, str(view.get("id")), blocks.edit_form_view(metadata.db, shown, metadata.dump(),
                                                                                callback_id=callback))


GUARDRAIL_FIELDS = {"min_retention": "retention_value", "max_interval": "frequency_value",
                    "allow_target_moves": "target", "max_storage": "retention_value", "min_policies": "target"}


def guardrail_errors(guarded: Demand) -> dict[str, str]:
    """A change the guardrails refuse, told beside the fields at fault (the reason's, when only it is missing)."""
    refused = guarded.verdict.refused
    if not refused:
        return {"reason": blocks.fit(f"{guarded.refusal}.", MAX_ERROR_TEXT)}
    errors: dict[str, list[str]] = {}
    for check in refused:
        errors.setdefault(GUARDRAIL_FIELDS[check.bound], []).append(check.describe())
    return {field: blocks.fit("Refused by " + "; ".join(lines) + ".", MAX_ERROR_TEXT)
            for field, lines in errors.items()}


def on_form(deps: Dependencies, ack: Ack, view: dict[str, Any]) -> None:
    metadata = read_metadata(view)
    if metadata is None:
        ack(response_action="errors", errors={"name": "This form is damaged; close it and open it again."})
        return
    update, reason, errors = validate(metadata, view.get("state") or {})
    if update is None:
        ack(response_action="errors", errors=errors)
        return
    before = BackupPolicy.model_validate(metadata.policy)
    basis = Basis.of(metadata.basis)
    # The storage of the other target's backups is not known here: estimated when the change is asked.
    same_target = update.target is None or update.target == before.target
    plan = ChangePlan(metadata.db, before, update, reason,
                      facts=DatabaseFacts((), basis, basis if same_target else None))
    # The rules alone (no lookups inside the ack): a move between targets needs what both rules ask.
    # Only a preview: the change path judges the change again when it is confirmed, and when it applies.
    approvals = approvals_asked(deps.access.rules, metadata.organization, metadata.database,
                                [plan.before.target, plan.after_values["target"]], metadata.channel)
    guarded = deps.changes.guardrails_demand(metadata.organization, metadata.database, metadata.policy,
                                             plan.after_values, reason, plan.facts)
    if guarded.refusal:
        ack(response_action="errors", errors=guardrail_errors(guarded))
        return
    approvals = max(approvals, guarded.approvals)
    confirm = metadata.model_copy(update={"update": update.to_api(), "reason": reason}).dump()
    if len(confirm) > blocks.MAX_PRIVATE_METADATA:
        # Only a name full of characters that JSON escapes with six (control characters) gets here.
        over = len(confirm) - blocks.MAX_PRIVATE_METADATA
        ack(response_action="errors", errors={"reason": f"Too long to carry with this policy's name: shorten "
                                                        f"the reason by {over} characters or more."})
        return
    ack(response_action="update", view=blocks.edit_confirm_view(plan, confirm, approvals,
                                                                guarded.verdict.summary()))


def on_confirm(deps: Dependencies, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    metadata = read_metadata(view)
    if metadata is None or not metadata.update:
        ack(response_action="update", view=blocks.message_view("Not applied", blocks.error_text(
            "This form is damaged; nothing was sent. Open it again.")))
        return
    ack(response_action="update", view=blocks.message_view("Applying", ":hourglass_flowing_sand: Checking and "
                                                            "applying your change…"))
    view_id, user = str(view["id"]), str(body["user"]["id"])
    failed = partial(show_failure, client, view_id, user=user)
    deps.background.run_answered(failed, apply, deps, client, view_id, user, metadata)


def show_failure(client: WebClient, view_id: str, message: str, user: str | None = None) -> None:
    """`user`: told in a direct message when the form no longer shows it."""
    say(client, view_id, user, "Not applied", blocks.error_text(message))


def apply(deps: Dependencies, client: WebClient, view_id: str, user: str, metadata: EditMetadata) -> None:
    db = metadata.db
    opened = BackupPolicy.model_validate(metadata.policy)
    try:
        update = PolicyUpdate(**(metadata.update or {}))
    except ValidationError:
        show_failure(client, view_id, "This form is damaged; nothing was sent. Open it again.", user)
        return
    outcome = deps.changes.ask(user, metadata.channel, db, opened.id, update, metadata.reason, expected=opened)
    if outcome.kind is OutcomeKind.STALE_FORM and outcome.current is not None:
        # Changed in PlanetScale since the form was filled: never overwrite it; offer the fresh values.
        current = outcome.current
        fresh = EditMetadata(organization=db.organization, database=db.database, channel=metadata.channel,
                             policy=current.model_dump())
        changes = blocks.changes_text_between(opened, current)
        if not show(client, view_id, blocks.edit_form_view(db, current.model_dump(), fresh.dump(), notice=(
                ":warning: *This policy changed in PlanetScale after you opened the form*, so nothing was "
                f"sent. It now reads:\n{changes}\nThe form shows the current values; make your change again."))):
            say(client, view_id, user, "Not applied", ":warning: The policy changed in PlanetScale after you opened "
                f"the form, so nothing was sent. It now reads:\n{changes}")
    else:
        show_asked(deps, client, view_id, outcome, "applied", user)


def show_asked(deps: Dependencies, client: WebClient, view_id: str, outcome: Outcome, done: str,
               user: str | None = None) -> None:
    """What a change asked through a form came to, in the form: its request posted in the channel (applied,
    waiting or queued: `done` says the first), not allowed, or why nothing was sent."""
    if outcome.request is not None and outcome.kind in POSTS:
        # The one claimed post of a change asked, as from a command: held by another run or the sweep, it is
        # theirs to post.
        ours = post_asked(deps, client, outcome, None)
        latest = deps.store.get_request(outcome.request.id) or outcome.request
        if ours and latest.message_ts is None:
            # A form has no response URL to post through where the bot may not post: say where it stands.
            said = {OutcomeKind.APPLIED: f"{done.capitalize()}, but Slack did not post the result in the channel; "
                                         "`/backup-policy history` shows it.",
                    OutcomeKind.QUEUED: f"Not {done} yet: {outcome.message} Slack did not post it in the channel."}.get(
                outcome.kind, "Your request waits for approval, but Slack did not post it in the channel: your "
                              "approvers find it on their App Home and with `/backup-policy pending`.")
            say(client, view_id, user, "Not posted", f":warning: {said}")
            return
        # Queued, and applied by the sweep meanwhile: said as it now stands.
        kind = OutcomeKind.APPLIED if latest.state is RequestState.APPLIED else outcome.kind
        said = {OutcomeKind.APPLIED: f"{done.capitalize()}: the result is posted in the channel.",
                OutcomeKind.QUEUED: f"Posted in the channel, not {done} yet: {outcome.message}"}.get(
            kind, "Your request is posted in the channel and waits for approval.")
        show(client, view_id, blocks.message_view("Done", f":white_check_mark: {said}"))
    elif outcome.kind is OutcomeKind.REFUSED:
        say(client, view_id, user, "Not allowed", blocks.error_text(outcome.message))
    else:
        show_failure(client, view_id, outcome.message, user)


def register(app: App, deps: Dependencies) -> None:
    app.action(blocks.EDIT)(partial(on_edit_button, deps))
    app.action("frequency_unit")(partial(on_unit_changed, deps))
    app.view(blocks.EDIT_FORM)(partial(on_form, deps))
    app.view(blocks.EDIT_CONFIRM)(partial(on_confirm, deps))

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
from bot.domain.commands import DatabaseRef, database_ref, is_slack_id, is_slug
from bot.domain.costs import Basis, DatabaseFacts
from bot.domain.guardrails import Demand
from bot.domain.judge_access import approvals_asked
from bot.domain.policy import EDITABLE_FIELDS, BackupPolicy, PolicyUpdate
from handlers import blocks, channel_history
from handlers.actions.requests import clicked_in, in_no_channel
from handlers.asked import POSTS, Post, post_asked
from handlers.dependencies import Dependencies
from handlers.posting import say_privately
from handlers.views.edit_values import form_values, validate

log = logging.getLogger(__name__)
MAX_ERROR_TEXT = 1000  # beside one input; Slack publishes no limit, so stay readable


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
    # The channel and the reason are written to the store as they are: held to what the command's door and the
    # form's reason field allow (an App Home's form has no channel).
    if metadata.channel and not is_slack_id(metadata.channel):
        return None
    if metadata.reason is not None and form_values({"values": {"reason": {"reason": {"value": metadata.reason}}}})[1]:
        return None
    return metadata


def open_edit(deps: Dependencies, client: WebClient, respond: Respond | None, trigger_id: str, user: str,
              channel: str, db: DatabaseRef, ref: str, by_id: bool = False) -> None:
    """Called in the listener, after its ack: the loading view opens right after the ack is written, inside the
    trigger_id's 3 seconds, so a slow or rate-limited `views.open` holds no ack; the rest follows. `by_id`: `ref`
    is the bot's own record of the policy's ID (an Edit button), never a name."""
    deps.background.run_answered_promptly(partial(_tell, respond), _open_and_fill, deps, client, respond,
                                          trigger_id, user, channel, db, ref, by_id)


def _open_and_fill(deps: Dependencies, client: WebClient, respond: Respond | None, trigger_id: str, user: str,
                   channel: str, db: DatabaseRef, ref: str, by_id: bool = False) -> None:
    try:
        opened = client.views_open(trigger_id=trigger_id, view=blocks.loading_view())
    except (SlackApiError, OSError) as exc:
        error = views_open_failure(exc)
        _tell(respond, f"Slack did not open the form ({error}). Nothing was read or changed; run "
                       f"`/backup-policy edit {db} {ref}` again in a few seconds.")
        return
    view_id = str(opened["view"]["id"])
    deps.background.run_answered(partial(show_failure, client, view_id), fill, deps, client, view_id, user, channel,
                                 db, ref, by_id)


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
         ref: str, by_id: bool = False) -> None:
    outcome = deps.changes.prepare_edit(user, channel, db, ref, by_id=by_id)
    again = f"/backup-policy edit {db} {ref}"
    if outcome.kind is OutcomeKind.READY and outcome.current is not None:
        policy = outcome.current
        basis = outcome.facts.before if outcome.facts else None
        metadata = EditMetadata(organization=db.organization, database=db.database, channel=channel,
                                policy=policy.model_dump(), basis=basis.to_json() if basis else None)
        carried = metadata.dump()
        if len(carried) > blocks.MAX_PRIVATE_METADATA:
            # Only a name PlanetScale holds of thousands of characters gets here: Slack's form cannot carry it.
            filled(client, view_id, user, again, blocks.message_view("Too long for a form", blocks.error_text(
                f"This policy's name is too long for Slack's form to carry ({len(policy.name)} characters). "
                f"Change it with `/backup-policy update {db} {policy.id} key=value…` instead.")))
            return
        filled(client, view_id, user, again, blocks.edit_form_view(db, policy.model_dump(), carried))
    elif outcome.kind is OutcomeKind.REFUSED:
        filled(client, view_id, user, again, blocks.message_view("Not allowed", blocks.error_text(outcome.message)))
    else:
        title = "Cannot change it" if outcome.kind is OutcomeKind.INVALID else "Could not read it"
        filled(client, view_id, user, again, blocks.message_view(title, blocks.error_text(outcome.message)))


def filled(client: WebClient, view_id: str, user: str, again: str, view: dict[str, Any]) -> None:
    """The form, open on its loading view, shows `view`; else (Slack failing, the form closed) the person is told in
    a direct message, as the loading view they see never changes. `again`: the command that opens it again."""
    if not show(client, view_id, view):
        tell_directly(client, user, "Not filled", f"Slack did not fill the form, so nothing was read into it or "
                      f"changed. Open it again: `{again}`.", "the form you opened")


def show(client: WebClient, view_id: str, view: dict[str, Any]) -> bool:
    """True once the form shows `view`; False when Slack did not take it (the form closed, Slack failing)."""
    try:
        client.views_update(view_id=view_id, view=view)
    except (SlackApiError, OSError) as exc:
        log.warning("views.update failed: %s", error_of(exc))
        return False
    return True


CONFIRMED, PREVIEWED = "the change you confirmed in the form", "the change you previewed in the form"


def say(client: WebClient, view_id: str, user: str | None, title: str, text: str, what: str = CONFIRMED) -> None:
    """An outcome the channel does not show, in the form, else (closed while the change was checked, or Slack
    failing) in the bot's direct message with `user`: whatever became of the form, they learn it."""
    if show(client, view_id, blocks.message_view(title, text)) or user is None:
        return
    tell_directly(client, user, title, text, what)


def tell_directly(client: WebClient, user: str, title: str, text: str, what: str = CONFIRMED) -> None:
    """What the form could not show, in the bot's direct message with `user`."""
    try:
        channel_history.post_directly(client, user, f"*{title}*: {what}.\n{text}", what="the form's answer")
        log.info("the form's answer went to <@%s> in a direct message instead", user)
    except (SlackApiError, OSError) as exc:
        log.error("could not tell <@%s> what became of %s: %s", user, what.replace("you", "they"), error_of(exc))


def on_edit_button(deps: Dependencies, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                   client: WebClient, respond: Respond) -> None:
    ack()
    # A policy's ID is the rest of the value: PlanetScale may list one holding a `/`.
    parts = str(action.get("value") or "").split("/", 2)
    channel = clicked_in(body)
    tell = respond if body.get("response_url") else None
    # Slack always sends one; a forged or odd payload without it is answered in words, as no form can open.
    trigger_id = str(body.get("trigger_id") or "")
    if len(parts) != 3 or not all(is_slug(p) for p in parts[:2]) or not parts[2]:
        refusal = ("This Edit button names no policy this bot can open. Nothing was read or changed; run "
                   "`/backup-policy edit <organization>/<database> <policy>` instead.")
        if trigger_id:
            deps.background.run_answered_promptly(partial(_tell, tell), _open_message, client, tell, trigger_id,
                                                  refusal)
        else:
            deps.background.run(_tell, tell, refusal)
        return
    if in_no_channel(deps, client, body, "Edit"):
        return
    if not trigger_id:
        deps.background.run(_tell, tell, "Slack sent this Edit click without a trigger_id, so the bot could not open "
                                         "a form. Nothing was read or changed; click Edit again, or run "
                                         f"`/backup-policy edit {parts[0]}/{parts[1]} <policy>`.")
        return
    open_edit(deps, client, tell, trigger_id, body["user"]["id"], channel, database_ref(parts[0], parts[1]), parts[2],
              by_id=True)


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
FIELD_LABELS = {"retention_value": "Keep backups for", "frequency_value": "Back up every",
                "target": "Target branches"}


def guardrail_notice(guarded: Demand) -> str:
    """A change the guardrails refuse, told field by field: which guardrail, and the nearest value it allows."""
    refused = guarded.verdict.refused
    if not refused:
        return ("It breaks " + "; ".join(c.describe() for c in guarded.verdict.broken)
                + ". It can go through only with a reason: say why in *Reason*.")
    lines: dict[str, list[str]] = {}
    for check in refused:
        lines.setdefault(GUARDRAIL_FIELDS[check.bound], []).append(check.describe())
    return "\n".join(f"• *{FIELD_LABELS[field]}*: refused by " + "; ".join(said) + "."
                     for field, said in lines.items())


def on_form(deps: Dependencies, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    metadata = read_metadata(view)
    if metadata is None:
        ack(response_action="errors", errors={"name": "This form is damaged; close it and open it again."})
        return
    update, reason, errors = validate(metadata.policy, view.get("state") or {})
    if update is None:
        ack(response_action="errors", errors=errors)
        return
    confirm = metadata.model_copy(update={"update": update.to_api(), "reason": reason}).dump()
    if len(confirm) > blocks.MAX_PRIVATE_METADATA:
        # Only a name full of characters that JSON escapes with six (control characters) gets here.
        over = len(confirm) - blocks.MAX_PRIVATE_METADATA
        ack(response_action="errors", errors={"reason": f"Too long to carry with this policy's name: shorten "
                                                        f"the reason by {over} characters or more."})
        return
    before = BackupPolicy.model_validate(metadata.policy)
    basis = Basis.of(metadata.basis)
    # The storage of the other target's backups is not known here: estimated when the change is asked.
    same_target = update.target is None or update.target == before.target
    plan = ChangePlan(metadata.db, before, update, reason,
                      facts=DatabaseFacts((), basis, basis if same_target else None))
    # On the policy as the form was opened, with the rules alone (no read inside the ack): only a preview, which
    # the judge decides again when the change is confirmed and when it applies.
    guarded = deps.changes.guardrails_demand(metadata.organization, metadata.database, metadata.policy,
                                             plan.after_values, reason, plan.facts)
    if guarded.refusal:
        # The policy may have moved since the form was opened: only the judge, on the policy as PlanetScale holds
        # it now, refuses a change, asked after the ack.
        ack(response_action="update", view=blocks.message_view("Checking", ":hourglass_flowing_sand: Checking "
                                                                "your change…"))
        view_id, user = str(view["id"]), str(body["user"]["id"])
        shown, _ = form_values(view.get("state") or {})
        deps.background.run_answered(partial(show_failure, client, view_id, user=user, what=PREVIEWED), check,
                                     deps, client, view_id, user, metadata, update, shown)
        return
    # A move between targets needs what both rules ask.
    approvals = approvals_asked(deps.access.rules, metadata.organization, metadata.database,
                                [plan.before.target, plan.after_values["target"]], metadata.channel)
    ack(response_action="update", view=blocks.edit_confirm_view(plan, confirm, max(approvals, guarded.approvals),
                                                                guarded.verdict.summary()))


def check(deps: Dependencies, client: WebClient, view_id: str, user: str, metadata: EditMetadata,
          update: PolicyUpdate, shown: dict[str, Any]) -> None:
    """The change asked of the judge in a dry run, on the policy as read now (`shown`: the form's values, the
    reason among them), and its answer in the form: the preview, the form again with why not, or fresh values."""
    db, opened, reason = metadata.db, BackupPolicy.model_validate(metadata.policy), shown.get("reason")
    outcome = deps.changes.ask(user, metadata.channel, db, opened.id, update, reason, dry_run=True, expected=opened)
    if outcome.kind is OutcomeKind.STALE_FORM and outcome.current is not None:
        show_stale(client, view_id, user, metadata, outcome.current, PREVIEWED)
    elif outcome.kind is OutcomeKind.PREVIEWED and outcome.plan is not None:
        confirm = metadata.model_copy(update={"update": update.to_api(), "reason": reason}).dump()
        if not show(client, view_id, blocks.edit_confirm_view(outcome.plan, confirm, outcome.approvals,
                                                              outcome.guardrails)):
            tell_directly(client, user, "Not applied", "The form closed before it showed your change's preview, "
                          f"so nothing was sent. Open it again: `/backup-policy edit {db} {opened.id}`.", PREVIEWED)
    elif outcome.kind in (OutcomeKind.REFUSED, OutcomeKind.INVALID, OutcomeKind.FAILED):
        why = guardrail_notice(outcome.demand) if outcome.demand else outcome.message
        said = {OutcomeKind.REFUSED: ":no_entry: *Not allowed as it stands*, so nothing was sent.",
                OutcomeKind.INVALID: ":no_entry: *This change does not hold*, so nothing was sent.",
                }.get(outcome.kind, ":warning: *The change could not be checked*, so nothing was sent; submit it "
                                    "again in a few seconds.")
        notice = blocks.fit(f"{said}\n{why}", MAX_ERROR_TEXT)
        if not show(client, view_id, blocks.edit_form_view(db, {**metadata.policy, **shown}, metadata.dump(),
                                                           notice=notice, reason=reason)):
            tell_directly(client, user, "Not applied", f"{notice}\n(The form closed: open it again with "
                          f"`/backup-policy edit {db} {opened.id}`.)", PREVIEWED)
    else:
        show_asked(deps, client, view_id, outcome, "applied", user, PREVIEWED)


def show_stale(client: WebClient, view_id: str, user: str, metadata: EditMetadata, current: BackupPolicy,
               what: str = CONFIRMED) -> None:
    """Changed in PlanetScale since the form was filled: never overwritten; the form offers the fresh values."""
    db, opened = metadata.db, BackupPolicy.model_validate(metadata.policy)
    fresh = EditMetadata(organization=db.organization, database=db.database, channel=metadata.channel,
                         policy=current.model_dump())
    changes = blocks.changes_text_between(opened, current)
    if not show(client, view_id, blocks.edit_form_view(db, current.model_dump(), fresh.dump(), notice=(
            ":warning: *This policy changed in PlanetScale after you opened the form*, so nothing was "
            f"sent. It now reads:\n{changes}\nThe form shows the current values; make your change again."))):
        tell_directly(client, user, "Not applied", ":warning: The policy changed in PlanetScale after you opened "
                      f"the form, so nothing was sent. It now reads:\n{changes}", what)


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


def show_failure(client: WebClient, view_id: str, message: str, user: str | None = None,
                 what: str = CONFIRMED) -> None:
    """`user`: told in a direct message when the form no longer shows it; `what`: the change, as they left it."""
    say(client, view_id, user, "Not applied", blocks.error_text(message), what)


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
        show_stale(client, view_id, user, metadata, outcome.current)
    else:
        show_asked(deps, client, view_id, outcome, "applied", user)


def show_asked(deps: Dependencies, client: WebClient, view_id: str, outcome: Outcome, done: str,
               user: str | None = None, what: str = CONFIRMED) -> None:
    """What a change asked through a form came to, in the form: its request posted in the channel (applied,
    waiting or queued: `done` says the first), not allowed, or why nothing was sent."""
    if outcome.request is not None and outcome.kind in POSTS:
        # The one claimed post of a change asked, as from a command: held by another run or the sweep, it is
        # theirs to post.
        post = post_asked(deps, client, outcome, None)
        latest = deps.store.get_request(outcome.request.id) or outcome.request
        if post is Post.LATER and latest.message_ts is None:
            # Slack held the post back for a moment (a rate limit, Slack failing): the sweep posts it.
            later = "Slack held back its post in the channel for now: the bot posts it there once Slack takes it."
            said = {OutcomeKind.APPLIED: f"{done.capitalize()}. {later}",
                    OutcomeKind.QUEUED: f"Not {done} yet: {outcome.message} {later}"}.get(
                outcome.kind, f"Your request waits for approval. {later} Meanwhile your approvers find it on their "
                              "App Home and with `/backup-policy pending`.")
            say(client, view_id, user, "Not posted yet", f":hourglass_flowing_sand: {said}")
            return
        if post is Post.TRIED and latest.message_ts is None:
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
        say(client, view_id, user, "Not allowed", blocks.error_text(outcome.message), what)
    else:
        show_failure(client, view_id, outcome.message, user, what)


def register(app: App, deps: Dependencies) -> None:
    app.action(blocks.EDIT)(partial(on_edit_button, deps))
    app.action("frequency_unit")(partial(on_unit_changed, deps))
    app.view(blocks.EDIT_FORM)(partial(on_form, deps))
    app.view(blocks.EDIT_CONFIRM)(partial(on_confirm, deps))

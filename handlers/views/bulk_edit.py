"""The bulk form: `/backup-policy edit <org>/<glob> [<policy glob>]` opens a modal listing the policies it names
(a multi-select, all chosen at first, at most 100: Slack's limit for its options and the bot's for one change)
and the settings to give them. Submitted, it is asked through the bulk door like the command: one request,
posted in the channel."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    StaticMultiSelectElement,
    StaticSelectElement,
    TimePickerElement,
)
from slack_sdk.models.views import View as ModalView

from bot.domain.batches import BatchOutcome, BatchOutcomeKind, telling_batch
from bot.domain.bulk_finding import Found, Selection
from bot.domain.commands import DatabaseRef, is_slack_id, is_slug
from bot.domain.field_problems import field_problems
from bot.domain.grammar import MAX_REASON_LENGTH
from bot.domain.policy import BackupPolicy, PolicyUpdate
from handlers import blocks, bulk_blocks
from handlers.bulk_posting import finish, publish
from handlers.dependencies import Dependencies
from handlers.views.edit import filled, say, show, show_failure, views_open_failure
from handlers.views.edit_values import form_values

log = logging.getLogger(__name__)
BULK_FORM = "bulk_edit_form"
POLICIES = "policies"
MAX_OPTION_VALUE = 150
MAX_OPTION_TEXT = 75
PAIRS = (("retention_value", "retention_unit", "Keep backups for"), ("frequency_value", "frequency_unit",
                                                                      "Back up every"))


def open_bulk_edit(deps: Dependencies, client: WebClient, respond: Respond, trigger_id: str, user: str,
                   channel: str, db: DatabaseRef, policy: str) -> None:
    """After the ack: the loading view first (the trigger_id lasts 3 seconds), the policies once read."""
    deps.background.run_promptly(_open_and_fill, deps, client, respond, trigger_id, user, channel,
                        Selection(db.organization, db.database, policy))


def _open_and_fill(deps: Dependencies, client: WebClient, respond: Respond, trigger_id: str, user: str,
                   channel: str, selection: Selection) -> None:
    try:
        opened = client.views_open(trigger_id=trigger_id, view=blocks.message_view(
            "Change many policies", ":hourglass_flowing_sand: Reading the policies from PlanetScale…"))
    except (SlackApiError, OSError) as exc:
        blocks_text = blocks.error_text(f"Slack did not open the form ({views_open_failure(exc)}). Nothing was "
                                        "read or changed; run the command again in a few seconds.")
        respond(text=blocks_text, response_type="ephemeral", replace_original=False)
        return
    view_id = str(opened["view"]["id"])
    deps.background.run_answered(partial(show_failure, client, view_id), fill, deps, client, view_id, user,
                                 channel, selection)


def fill(deps: Dependencies, client: WebClient, view_id: str, user: str, channel: str, selection: Selection) -> None:
    found = deps.bulk.choices(user, channel, selection)
    again = f"/backup-policy edit {selection.words}"
    if isinstance(found, BatchOutcome):
        title = "Not allowed" if found.kind is BatchOutcomeKind.REFUSED else "Nothing to change"
        filled(client, view_id, user, again, blocks.message_view(title, blocks.error_text(found.message)))
        return
    if not any(policy_option(d, p) for d, p in found.policies):
        # Slack refuses a list of no options, and would again each time the form is opened.
        filled(client, view_id, user, again, blocks.message_view("Nothing to change", blocks.error_text(
            f"{blocks.plural(len(found.policies), 'policy', 'policies')} here, each with an ID too long for "
            f"Slack's form. Change them with `/backup-policy update {selection.words} key=value…` instead.")))
        return
    # Unescaped: a name of 255 characters beyond the BMP, escaped, would pass Slack's 3000 for the metadata.
    metadata = json.dumps({"organization": selection.organization, "channel": channel,
                           "selection": selection.words}, ensure_ascii=False)
    filled(client, view_id, user, again, bulk_form_view(found.policies, metadata, left_out(found)))


def left_out(found: Found) -> list[str]:
    """What the selection names that the form does not list, and why: each kind counted."""
    lines = []
    if found.hidden_databases:
        lines.append(f"{blocks.plural(found.hidden_databases, 'database')} you may not see here")
    lines += [f"`{blocks.escape(s.database)[:80]}`: {bulk_blocks.SKIP_WORDS[s.why]}: "
              f"{blocks.fit(blocks.with_mentions(s.detail or ''), 200)}" for s in found.skipped[:5]]
    if len(found.skipped) > 5:
        lines.append(f"{len(found.skipped) - 5} more not read")
    return lines


def policy_option(database: str, policy: BackupPolicy) -> Option | None:
    """Its ID and target always whole in the option's text: names (and databases' names) that part only past
    Slack's 75 characters would otherwise show two policies as one."""
    value = f"{database}/{policy.id}"
    if len(value) > MAX_OPTION_VALUE:
        return None
    kept = f" · {policy.id} ({policy.target})"
    room = MAX_OPTION_TEXT - len(kept)
    if room < 12:  # an ID far longer than PlanetScale's: what fits of it
        return Option(text=blocks.fit(f"{database} · {policy.name}{kept}", MAX_OPTION_TEXT), value=value)
    if len(database) > room // 2 and len(database) + 3 + len(policy.name) > room:
        half = room // 2 - 1
        database = f"{database[:half - half // 2]}…{database[-(half // 2):]}"  # databases part at either end
    return Option(text=blocks.fit(f"{database} · {policy.name}", room) + kept, value=value)


def bulk_form_view(policies: list[tuple[str, BackupPolicy]], metadata: str,
                   left: list[str] | None = None) -> dict[str, Any]:
    options = [o for o in (policy_option(d, p) for d, p in policies) if o is not None]
    left = list(left or [])
    if len(options) < len(policies):
        left.append(f"{blocks.plural(len(policies) - len(options), 'policy', 'policies')} whose ID is too long "
                    "for a form: change them with the command")
    units = [Option(text=blocks.UNIT_LABELS[u], value=u) for u in ("hour", "day", "week", "month", "year")]
    form: list[Block] = [
        InputBlock(block_id=POLICIES, label="Policies to change", element=StaticMultiSelectElement(
            action_id=POLICIES, options=options, initial_options=options, placeholder="Choose policies")),
        blocks.context("Leave a setting empty to keep each policy's own."),
    ]
    if left:
        form.append(blocks.context(blocks.fit("*Not listed:* " + "; ".join(left) + ".", 2000)))
    for number, unit, label in PAIRS:
        form.append(InputBlock(block_id=number, label=label, optional=True, element=NumberInputElement(
            action_id=number, is_decimal_allowed=False, min_value="1")))
        form.append(InputBlock(block_id=unit, label=f"{label}: unit", optional=True, element=StaticSelectElement(
            action_id=unit, options=units if unit == "retention_unit" else units[:4], placeholder="Choose")))
    form.append(InputBlock(block_id="schedule_time", label="Time (UTC)", optional=True,
                           element=TimePickerElement(action_id="schedule_time", timezone="UTC")))
    form.append(InputBlock(block_id="reason", label="Reason", optional=True, element=PlainTextInputElement(
        action_id="reason", max_length=MAX_REASON_LENGTH, placeholder="Why? It goes into the audit trail.")))
    return dict(ModalView(type="modal", callback_id=BULK_FORM, title="Change many policies", submit="Ask",
                          close="Cancel", private_metadata=metadata, blocks=form).to_dict())


def chosen_policies(state: dict[str, Any]) -> list[tuple[str, str]]:
    element = ((state.get("values") or {}).get(POLICIES) or {}).get(POLICIES) or {}
    chosen = []
    for option in element.get("selected_options") or []:
        database, _, policy_id = str((option or {}).get("value") or "").partition("/")
        if is_slug(database) and policy_id:
            chosen.append((database.lower(), policy_id))
    return list(dict.fromkeys(chosen))


def not_offered(state: dict[str, Any], view: dict[str, Any]) -> str | None:
    """The first chosen value the form's own list never offered (a payload may carry any), or None."""
    offered: set[str] = set()
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("block_id") == POLICIES:
            element = block.get("element") or {}
            offered = {str(o.get("value")) for o in element.get("options") or [] if isinstance(o, dict)}
    element = ((state.get("values") or {}).get(POLICIES) or {}).get(POLICIES) or {}
    chosen = [str((option or {}).get("value") or "") for option in element.get("selected_options") or []]
    return next((value for value in chosen if value not in offered), None)


def read_form(state: dict[str, Any]) -> tuple[PolicyUpdate | None, str | None, dict[str, str]]:
    """The settings given (empty ones left out), as one update; or an error per field."""
    given = {block_id: actions for block_id, actions in (state.get("values") or {}).items()
             if block_id != POLICIES and any(v.get("value") or v.get("selected_option") or v.get("selected_time")
                                             for v in (actions or {}).values())}
    values, errors = form_values({"values": given})
    reason = values.pop("reason", None)
    for number, unit, label in PAIRS:
        if (number in values) != (unit in values) and not errors:
            missing = unit if number in values else number
            errors[missing] = f"{label}: give both the number and its unit, or neither."
    if errors:
        return None, reason, errors
    if not values:
        return None, reason, {PAIRS[0][0]: "Nothing to change: give at least one setting."}
    try:
        return PolicyUpdate(**values), reason, {}
    except ValidationError as exc:
        first = field_problems(exc)[0]
        return None, reason, {first.field if first.field in given else PAIRS[0][0]: first.message[:150]}


def on_form(deps: Dependencies, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    try:
        metadata = json.loads(view.get("private_metadata") or "")
        organization, channel = str(metadata["organization"]), str(metadata["channel"])
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: nested deeper than the parser goes
        ack(response_action="errors", errors={POLICIES: "This form is damaged; close it and open it again."})
        return
    state = view.get("state") or {}
    chosen = chosen_policies(state)
    update, reason, errors = read_form(state)
    stray = not_offered(state, view)
    if stray is not None:
        errors[POLICIES] = (f"“{blocks.fit(stray, 80)}” is not one this form offers: choose from its list, or "
                            "close the form and open it again to list the policies as they are now.")
    elif not chosen:
        errors[POLICIES] = "Choose at least one policy."
    if update is None or errors or not is_slug(organization) or (channel and not is_slack_id(channel)):
        ack(response_action="errors", errors=errors or {POLICIES: "This form is damaged; open it again."})
        return
    ack(response_action="update", view=blocks.message_view("Checking", ":hourglass_flowing_sand: Checking each "
                                                           "policy and asking for your change…"))
    view_id, user = str(view["id"]), str(body["user"]["id"])
    deps.background.run_answered(partial(show_failure, client, view_id, user=user), ask, deps, client, view_id,
                                 user, channel, Selection(organization, chosen=tuple(chosen)), update,
                                 reason)


def ask(deps: Dependencies, client: WebClient, view_id: str, user: str, channel: str, selection: Selection,
        update: PolicyUpdate, reason: str | None) -> None:
    outcome = deps.bulk.ask(user, channel, selection, update, reason)
    with telling_batch(outcome):
        tell_asked(deps, client, view_id, user, outcome)


def tell_asked(deps: Dependencies, client: WebClient, view_id: str, user: str, outcome: BatchOutcome) -> None:
    batch = outcome.batch
    if outcome.kind in (BatchOutcomeKind.REQUESTED, BatchOutcomeKind.DONE) and batch is not None:
        refused = publish(deps, client, batch, None)
        if outcome.kind is BatchOutcomeKind.DONE:
            finish(deps, client, batch)
        if refused is not None:
            done = (f"Slack did not post your bulk change in the channel, or did not confirm it (`{refused}`): "
                    + ("it waits for approval on your approvers' App Home, and on yours, where you can cancel it."
                       if outcome.kind is BatchOutcomeKind.REQUESTED else
                       "it was applied, and a direct message tells you how each policy ended."))
        else:
            done = ("Your bulk change is posted in the channel and waits for approval."
                    if outcome.kind is BatchOutcomeKind.REQUESTED else "Applied: the result is posted in the channel.")
        if batch.skipped:
            left = blocks.plural(len(batch.skipped), "chosen policy was", "chosen policies were")
            done += (f"\n{left} left out, each with why in its message:\n"
                     + "\n".join(bulk_blocks.skipped_line(s) for s in batch.skipped[:5]))
        if outcome.hidden_chosen:
            done += "\n" + bulk_blocks.hidden_chosen_words(outcome.hidden_chosen)
        if refused is None:
            show(client, view_id, blocks.message_view("Done", f":white_check_mark: {done}"))
        else:  # the channel does not show it: told in a direct message if the form is gone
            say(client, view_id, user, "Not posted", f":warning: {done}")
    elif outcome.kind is BatchOutcomeKind.REFUSED:
        say(client, view_id, user, "Not allowed", blocks.error_text(outcome.message))
    elif outcome.kind is BatchOutcomeKind.NOTHING and batch is not None:
        why = "\n".join(bulk_blocks.skipped_line(s) for s in batch.skipped[:6])
        if len(batch.skipped) > 6:
            why += f"\n…and {len(batch.skipped) - 6} more left out."
        if outcome.hidden_chosen:
            why += "\n" + bulk_blocks.hidden_chosen_words(outcome.hidden_chosen)
        show_failure(client, view_id, f"{outcome.message}\n{why}", user)
    elif outcome.hidden_chosen:
        show_failure(client, view_id, f"{outcome.message}\n{bulk_blocks.hidden_chosen_words(outcome.hidden_chosen)}",
                     user)
    else:
        show_failure(client, view_id, outcome.message, user)


def register(app: App, deps: Dependencies) -> None:
    app.view(BULK_FORM)(partial(on_form, deps))

"""The edit modal: its form, its confirmation, and the views shown while it works."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
    TimePickerElement,
)
from slack_sdk.models.views import View as ModalView

from bot.domain.changes import ChangePlan
from bot.domain.commands import DatabaseRef
from bot.domain.grammar import MAX_REASON_LENGTH
from bot.domain.policy import (
    DAY_NAMES,
    SCHEDULE_TIME,
    WEEK_NAMES,
)
from handlers.blocks.buttons import CREATE_FORM, EDIT_CONFIRM, EDIT_FORM
from handlers.blocks.costs import estimate_text
from handlers.blocks.kit import (
    MAX_MODAL_TITLE,
    changes_text_between,
    context,
    fit,
    guardrails_text,
    literal,
    plural,
    schedule_text,
    section,
)
from handlers.blocks.mentions import slack_text

UNIT_LABELS = {"hour": "hours", "day": "days", "week": "weeks", "month": "months", "year": "years"}


def option(text: str, value: str) -> Option:
    return Option(text=text, value=value)


def _select(block_id: str, label: str, options: list[Option], initial: str | None, dispatch: bool = False,
            optional: bool = False, hint: str | None = None) -> InputBlock:
    chosen = next((o for o in options if o.value == initial), None)
    return InputBlock(block_id=block_id, label=label, optional=optional, dispatch_action=dispatch, hint=hint,
                      element=StaticSelectElement(action_id=block_id, options=options, initial_option=chosen,
                                                  placeholder="Choose"))


def _number(block_id: str, label: str, initial: int | None) -> InputBlock:
    return InputBlock(block_id=block_id, label=label, element=NumberInputElement(
        action_id=block_id, is_decimal_allowed=False, min_value="1",
        initial_value=str(initial) if initial is not None else None))


def edit_form_view(db: DatabaseRef, values: dict[str, Any], metadata: str, notice: str | None = None,
                   callback_id: str = EDIT_FORM, reason: str | None = None) -> dict[str, Any]:
    """The form, pre-filled with `values` (API field names) and `reason`; day and week only where the frequency
    uses them. The same form makes a new policy (`callback_id` CREATE_FORM)."""
    creating = callback_id == CREATE_FORM
    unit = values.get("frequency_unit") or "hour"
    time = values.get("schedule_time")
    if time is not None and not (isinstance(time, str) and SCHEDULE_TIME.fullmatch(time)):
        # PlanetScale may hold a time its own form took in another shape; Slack's time picker takes only HH:MM.
        notice = f"{notice}\n\n" if notice and notice.strip() else ""
        notice += f"PlanetScale gives this policy's time as {literal(str(time)) or 'nothing'}, which is no HH:MM " \
                  "time: choose the time."
        time = None
    units = [option(UNIT_LABELS[u], u) for u in ("hour", "day", "week", "month", "year")]
    form: list[Block] = []
    if notice and notice.strip():
        form.append(section(notice))
    form += [
        InputBlock(block_id="name", label="Name", element=PlainTextInputElement(
            action_id="name", initial_value=values.get("name"), max_length=255)),
        _select("target", "Target branches", [option("Production", "production"),
                                              option("Development", "development")], values.get("target")),
        _number("retention_value", "Keep backups for", values.get("retention_value")),
        _select("retention_unit", "Retention unit", units, values.get("retention_unit")),
        _number("frequency_value", "Back up every", values.get("frequency_value")),
        _select("frequency_unit", "Frequency unit", units[:4], unit, dispatch=True,
                hint="Weekly and monthly backups also ask for a day."),
        InputBlock(block_id="schedule_time", label="Time (UTC)", hint="24-hour clock, in UTC.",
                   element=TimePickerElement(action_id="schedule_time", initial_time=time,
                                             timezone="UTC")),
    ]
    if unit in ("week", "month"):
        form.append(_select("schedule_day", "Day of the week", [option(d, str(i)) for i, d in enumerate(DAY_NAMES)],
                            None if values.get("schedule_day") is None else str(values["schedule_day"])))
    if unit == "month":
        form.append(_select("schedule_week", "Week of the month",
                            [option(f"{w} week", str(i)) for i, w in enumerate(WEEK_NAMES)],
                            None if values.get("schedule_week") is None else str(values["schedule_week"])))
    form.append(InputBlock(block_id="reason", label="Reason", optional=True, element=PlainTextInputElement(
        action_id="reason", max_length=MAX_REASON_LENGTH, initial_value=reason,
        placeholder="Why this change? It goes into the audit trail.")))
    form.append(context(f"{db} · " + ("a new policy: previewed with what it costs before anything is sent"
                                      if creating else "only the fields you change are sent to PlanetScale")))
    title = "New backup policy" if creating else fit(f"Edit {values.get('name') or 'policy'}", MAX_MODAL_TITLE)
    return dict(ModalView(type="modal", callback_id=callback_id, title=title, submit="Preview", close="Cancel",
                          private_metadata=metadata, blocks=form).to_dict())


def edit_confirm_view(plan: ChangePlan, metadata: str, approvals: int,
                      guardrails: Sequence[str] = ()) -> dict[str, Any]:
    body = ", ".join(f"`{k}`" for k in plan.update.to_api())
    then = (f"It needs {plural(approvals, 'approval')}: a request will be posted in the channel." if approvals
            else "It is applied at once and posted in the channel.")
    return dict(ModalView(
        type="modal", callback_id=EDIT_CONFIRM, title="Confirm the change",
        submit="Request approval" if approvals else "Apply",
        close="Back", private_metadata=metadata, blocks=[
            section(f"*{literal(plan.before.name)}* of *{plan.db}*"),
            section(changes_text_between(plan.before, plan.after_values)),
            section(f"*After:* {schedule_text(plan.after_values)}"),
            section(estimate_text(plan.estimate)),
            section(guardrails_text(guardrails)),
            context(f"Sends {body}. {then}"),
        ]).to_dict())


def message_view(title: str, text: str) -> dict[str, Any]:
    """A modal that says one thing to the person who opened it, which may carry the domain's words."""
    return dict(ModalView(type="modal", title=fit(title, MAX_MODAL_TITLE), close="Close",
                          blocks=[section(slack_text(text))]).to_dict())


def loading_view() -> dict[str, Any]:
    return message_view("Edit backup policy", ":hourglass_flowing_sand: Reading the policy from PlanetScale…")

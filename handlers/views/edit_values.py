"""The edit form's fields read as the API's values, with an error per field that is not acceptable: the same
models and rules as the command, checked inside the submission's ack (no read)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.domain.field_problems import field_problems
from bot.domain.grammar import MAX_REASON_LENGTH
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
    lone_surrogate,
    shows_something,
)
from bot.domain.setting_values import is_number

CHOICES = {
    "target": ("production", "development"),
    "retention_unit": ("hour", "day", "week", "month", "year"),
    "frequency_unit": ("hour", "day", "week", "month"),
    "schedule_day": tuple(str(d) for d in range(7)),
    "schedule_week": tuple(str(w) for w in range(4)),
}
NUMBER_LABELS = {"retention_value": "Keep backups for", "frequency_value": "Back up every"}


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
        elif block_id in ("reason", "name") and lone_surrogate(str(raw or "")):
            errors[block_id] = (f"Remove the broken character ({lone_surrogate(str(raw))}, half of a pair that "
                                "no text holds alone): type or paste the text again.")
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


def submitted_text(state: dict[str, Any], block_id: str) -> str | None:
    """A text or number field's text as submitted, or None where the form holds none."""
    block = state.get("values", {}).get(block_id) if isinstance(state.get("values"), dict) else None
    element = block.get(block_id) if isinstance(block, dict) else None
    raw = element.get("value") if isinstance(element, dict) else None
    return raw if isinstance(raw, str) else None


def validate(opened: dict[str, Any], state: dict[str, Any]) -> tuple[PolicyUpdate | None, str | None, dict[str, str]]:
    """The same models and rules as the command, on the policy as the form was `opened`; only the fields that
    changed make the update."""
    before = BackupPolicy.model_validate(opened)
    values, errors = form_values(state)
    reason = values.pop("reason", None)
    for field in ("name", *NUMBER_LABELS):
        held = before.field_value(field)
        submitted = submitted_text(state, field)
        if submitted is not None and submitted.strip() == str(held).strip():
            # As PlanetScale holds it, left as it was: not sent, whatever the form would refuse of a typed value.
            errors.pop(field, None)
            values[field] = held
    if errors:
        return None, reason, errors
    changed = {k: v for k, v in values.items() if before.field_value(k) != v}
    if not changed:
        return None, reason, {"name": "Nothing changed: edit a field, or Cancel."}
    try:
        update = PolicyUpdate(**changed)
    except ValidationError as exc:
        for refused in field_problems(exc):
            errors[refused.field if refused.field in EDITABLE_FIELDS else "name"] = refused.message
        return None, reason, errors
    for problem in check_change(before, update):
        field = problem.field if problem.field in EDITABLE_FIELDS else "name"
        if field == "schedule_day" and "schedule_day" not in values:
            field = "frequency_unit"
        errors.setdefault(field, problem.message[:150])
    return (None if errors else update), reason, errors

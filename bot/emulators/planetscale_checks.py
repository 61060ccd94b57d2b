"""PlanetScale's checks of a request's body, as its API answers them: JSON, fields, types, enums, times.
"""

from __future__ import annotations

import json
import re
from typing import Any

POLICY_FIELDS: dict[str, type] = {
    "name": str, "target": str, "retention_value": int, "retention_unit": str, "frequency_value": int,
    "frequency_unit": str, "schedule_time": str, "schedule_day": int, "schedule_week": int,
}
ENUMS = {
    "target": ("production", "development"),
    "retention_unit": ("hour", "day", "week", "month", "year"),
    "frequency_unit": ("hour", "day", "week", "month"),
}


TIME_PATTERN = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json_body(raw: bytes) -> tuple[Any, str | None]:
    """The body as JSON, or (its text, why the API cannot read it). JSON travels as UTF-8 (RFC 8259)."""
    if not raw:
        return None, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw.decode("utf-8", "replace"), f"The request body is not UTF-8 (byte {exc.start} is not)"
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        return text, "The request body is not valid JSON: it nests too deeply"
    except ValueError as exc:
        return text, f"The request body is not valid JSON: {exc}"
    try:
        # An escaped lone surrogate ("\ud800") parses, but names no character and cannot be stored or answered.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return text, "The request body is not valid JSON: it escapes a lone UTF-16 surrogate"
    return body, None


def validate_policy_body(body: Any, partial: bool) -> str | None:
    """The API's checks on a create/update body; a message when it is refused."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    for key, value in body.items():
        if key not in POLICY_FIELDS:
            return f"Unknown parameter: {key}"
        expected = POLICY_FIELDS[key]
        if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
            return f"{key} must be an integer"
        if expected is str and not isinstance(value, str):
            return f"{key} must be a string"
        if key in ENUMS and value not in ENUMS[key]:
            return f"{key} must be one of: {', '.join(ENUMS[key])}"
    for key in ("retention_value", "frequency_value"):
        if key in body and body[key] < 1:
            return f"{key} must be greater than 0"
    if "schedule_time" in body and not TIME_PATTERN.fullmatch(body["schedule_time"]):
        return "schedule_time must be in HH:MM format"
    if "schedule_day" in body and not 0 <= body["schedule_day"] <= 6:
        return "schedule_day must be between 0 and 6"
    if "schedule_week" in body and not 0 <= body["schedule_week"] <= 3:
        return "schedule_week must be between 0 and 3"
    if "name" in body and not body["name"].strip():
        return "name can't be blank"
    if not partial and "name" not in body:
        return "name can't be blank"
    return None


def normalise_schedule(policy: dict[str, Any]) -> str | None:
    unit = policy["frequency_unit"]
    if unit in ("hour", "day"):
        policy["schedule_day"] = policy["schedule_week"] = None
    elif unit == "week":
        policy["schedule_week"] = None
    if unit in ("week", "month") and policy["schedule_day"] is None:
        return "schedule_day is required for weekly and monthly backups"
    if unit == "month" and policy["schedule_week"] is None:
        return "schedule_week is required for monthly backups"
    return None

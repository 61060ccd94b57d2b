"""What Slack's own form refuses before sending it, as the console's forms refuse it."""

from __future__ import annotations

import re
from typing import Any

from bot.domain.setting_values import is_number


def field_problem(element: dict[str, Any], value: str) -> str | None:
    """What Slack's own form would refuse before sending it: a number out of its bounds, a choice not offered,
    a time that is not HH:MM."""
    kind = element.get("type")
    if kind == "number_input" and value:
        number = r"-?[0-9]{1,12}(\.[0-9]{1,6})?" if element.get("is_decimal_allowed") else r"-?[0-9]{1,12}"
        if not re.fullmatch(number, value):
            return f"`{value[:40]}` is not {'a' if element.get('is_decimal_allowed') else 'a whole'} number"
        low, high = element.get("min_value"), element.get("max_value")
        if low is not None and float(value) < float(low):
            return f"{value} is less than {low}, the least it takes"
        if high is not None and float(value) > float(high):
            return f"{value} is more than {high}, the most it takes"
    if kind in ("static_select", "radio_buttons") and value:
        offered = [str(o["value"]) for o in element.get("options") or []]
        if value not in offered:
            return f"`{value[:40]}` is not one of {', '.join(offered)}"
    if kind == "timepicker" and value:
        hours, _, minutes = value.partition(":")
        if not (is_number(hours) and is_number(minutes) and len(minutes) == 2 and int(hours) < 24
                and int(minutes) < 60):
            return f"`{value[:40]}` is not a time as HH:MM"
    if kind == "plain_text_input" and element.get("max_length") and len(value) > int(element["max_length"]):
        return f"at most {element['max_length']} characters"
    return None

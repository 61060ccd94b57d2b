"""The values of `update`'s `key=value` settings (names, targets, amounts with units, times, days, weeks),
turned into the API's fields; every mistake a `CommandError` saying how to write it.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from bot.domain.commands import CommandError
from bot.domain.policy import (
    MAX_INT32,
    MAX_NAME_LENGTH,
    control_character,
    first_unseen,
    invisible_character,
    lone_surrogate,
    shows_something,
)

WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
AMOUNT = re.compile(r"([+-]?[0-9]+(?:[.,][0-9]+)?)\s*([A-Za-z]*)")
CLOCK_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts characters such as "²" that int() refuses."""
    return text.isascii() and text.isdigit()


def refuse_control_characters(key: str, text: str) -> None:
    broken = lone_surrogate(text)  # Socket Mode's JSON may carry one; no database or file could hold the text
    if broken:
        raise CommandError(f"`{key}` holds a broken character ({broken}, half of a pair that no text holds "
                           "alone): type or paste it again.")
    found = control_character(text)
    if found:
        raise CommandError(f"`{key}` holds a control character ({found}): write it as plain text on one line, "
                           "without tabs, line breaks or terminal escapes.")


def refuse_invisible_characters(key: str, text: str) -> None:
    found = invisible_character(text)
    if found:
        raise CommandError(f"`{key}` holds an invisible format character ({found}, e.g. a bidi override or a "
                           "zero-width space), which would let one name pass for another: type it without.")


UNITS: dict[str, str] = {
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "d": "day", "day": "day", "days": "day",
    "w": "week", "wk": "week", "wks": "week", "week": "week", "weeks": "week",
    "mo": "month", "mon": "month", "month": "month", "months": "month",
    "y": "year", "yr": "year", "yrs": "year", "year": "year", "years": "year",
}
NOT_UNITS: dict[str, str] = {
    "m": "`m` is ambiguous: write `mo` for months (minutes are not a backup unit)",
    "min": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "mins": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "minute": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "minutes": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "s": "seconds are not a backup unit: the shortest is hours, e.g. 1h",
}
DAYS: dict[str, int] = {
    "sun": 0, "sunday": 0, "mon": 1, "monday": 1, "tue": 2, "tues": 2, "tuesday": 2,
    "wed": 3, "wednesday": 3, "thu": 4, "thur": 4, "thurs": 4, "thursday": 4,
    "fri": 5, "friday": 5, "sat": 6, "saturday": 6,
}
WEEKS: dict[str, int] = {"1st": 0, "first": 0, "2nd": 1, "second": 1, "3rd": 2, "third": 2, "4th": 3, "fourth": 3}
TARGETS = ("production", "development")

# Keys users type -> the API fields they set (the contract's table, then the API's own names).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "target": ("target",),
    "retention": ("retention_value", "retention_unit"),
    "frequency": ("frequency_value", "frequency_unit"),
    "at": ("schedule_time",),
    "day": ("schedule_day",),
    "week": ("schedule_week",),
    "retention_value": ("retention_value",),
    "retention_unit": ("retention_unit",),
    "frequency_value": ("frequency_value",),
    "frequency_unit": ("frequency_unit",),
    "schedule_time": ("schedule_time",),
    "schedule_day": ("schedule_day",),
    "schedule_week": ("schedule_week",),
}
KEY_EXAMPLES: dict[str, str] = {
    "name": 'name="Production daily"',
    "target": "target=production",
    "retention": "retention=30d",
    "frequency": "frequency=12h",
    "at": "at=02:00",
    "day": "day=sun",
    "week": "week=1st",
    "retention_value": "retention_value=30",
    "retention_unit": "retention_unit=day",
    "frequency_value": "frequency_value=12",
    "frequency_unit": "frequency_unit=hour",
    "schedule_time": "schedule_time=02:00",
    "schedule_day": "schedule_day=0",
    "schedule_week": "schedule_week=0",
}


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    near = closest(word, choices)
    return f" Did you mean `{near}`?" if near else ""


def parse_value(key: str, value: str) -> dict[str, Any]:
    raw = value.strip()
    low = raw.lower()
    if key == "name":
        refuse_control_characters("name", raw)
        refuse_invisible_characters("name", raw)
        if not raw:
            raise CommandError(f"`name` is blank (spaces around it do not count): give the policy a name of 1 to "
                               f'{MAX_NAME_LENGTH} characters, e.g. `name="Nightly"`.')
        if len(raw) > MAX_NAME_LENGTH:
            raise CommandError(f"`name` must be 1 to {MAX_NAME_LENGTH} characters (PlanetScale's limit): this is "
                               f"{len(raw)}.")
        if not shows_something(raw):
            raise CommandError(f"`name` shows nothing: it holds only invisible characters (such as "
                               f"{first_unseen(raw)}), so one policy could not be told from another. Give it a "
                               "name in words.")
        return {"name": raw}
    if key == "target":
        if low not in TARGETS:
            hint = {"prod": "production", "dev": "development"}.get(low) or closest(low, TARGETS)
            near = f" Did you mean `target={hint}`?" if hint else ""
            raise CommandError(f"`target={raw[:40]}` is not a target.{near} Use production or development.")
        return {"target": low}
    if key in ("retention", "frequency"):
        number, unit = parse_amount(key, raw)
        return {f"{key}_value": number, f"{key}_unit": unit}
    if key in ("retention_value", "frequency_value"):
        return {key: parse_count(key, raw)}
    if key in ("retention_unit", "frequency_unit"):
        return {key: parse_unit(key, low, raw)}
    if key in ("at", "schedule_time"):
        return {"schedule_time": parse_time(key, raw)}
    if key in ("day", "schedule_day"):
        return {"schedule_day": parse_day(key, low, raw)}
    if key == "week":
        if low in WEEKS:
            return {"schedule_week": WEEKS[low]}
        if is_number(low):
            raise CommandError(f"`week={raw}`: write the week as 1st, 2nd, 3rd or 4th (or first…fourth), "
                               "e.g. `week=1st`; `schedule_week` takes the API's 0–3.")
        raise CommandError(f"`week={raw[:40]}` is not a week of the month: use 1st, 2nd, 3rd or 4th, "
                           "e.g. `week=1st` (there is no 5th or last week).")
    if key == "schedule_week":
        if is_number(raw) and 0 <= int(raw) <= 3:
            return {"schedule_week": int(raw)}
        raise CommandError(f"`schedule_week={raw[:40]}` must be 0 to 3 (0 is the first week), "
                           "or write `week=1st`.")
    raise CommandError(f"Unknown key `{key}`.")  # pragma: no cover - KEY_FIELDS and this list agree


def parse_count(key: str, raw: str, shown: str | None = None) -> int:
    """A whole number from 1 up; `shown` is the value as typed (`0d`), for the message."""
    typed = shown or raw
    if WHOLE_NUMBER.fullmatch(raw):
        number = int(raw)
        if number < 1:
            raise CommandError(f"`{key}={typed[:40]}`: must be at least 1, e.g. `{KEY_EXAMPLES[key]}`.")
        if number > MAX_INT32:
            raise CommandError(f"`{key}={typed[:20]}` is too large: the most is {MAX_INT32}.")
        return number
    raise CommandError(f"`{key}={raw[:40]}` is not a whole number: e.g. `{KEY_EXAMPLES[key]}`.")


def parse_unit(key: str, low: str, raw: str) -> str:
    if low in NOT_UNITS:
        raise CommandError(f"`{key}={raw}`: {NOT_UNITS[low]}.")
    unit = UNITS.get(low)
    if unit is None:
        raise CommandError(f"`{key}={raw[:40]}` is not a unit: use hour, day, week, month"
                           f"{', year' if key.startswith('retention') else ''}.{did_you_mean(low, list(UNITS))}")
    if unit == "year" and key.startswith("frequency"):
        raise CommandError(f"`{key}={raw}`: backups cannot run yearly; the longest frequency is months, "
                           "e.g. `frequency=12mo`.")
    return unit


def parse_amount(key: str, raw: str) -> tuple[int, str]:
    example = KEY_EXAMPLES[key]
    match = AMOUNT.fullmatch(raw)
    if not match:
        raise CommandError(f"`{key}={raw[:40]}` is not an amount: write a whole number and a unit, "
                           f"e.g. `{example}` or `{key}=\"30 days\"`.")
    number_text, unit_text = match.groups()
    if not unit_text:
        raise CommandError(f"`{key}={raw}` needs a unit: e.g. `{raw}d` (h, d, w, mo"
                           f"{', y' if key == 'retention' else ''}).")
    unit = parse_unit(key, unit_text.lower(), raw)
    if not WHOLE_NUMBER.fullmatch(number_text):
        raise CommandError(f"`{key}={raw}`: use a whole number, e.g. 36h rather than 1.5d.")
    return parse_count(key, number_text, raw), unit


def parse_time(key: str, raw: str) -> str:
    match = CLOCK_TIME.fullmatch(raw)
    if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
        return f"{int(match.group(1)):02d}:{match.group(2)}"
    hint = " (24-hour clock: 2pm is 14:00)" if re.search(r"[ap]\.?m", raw.lower()) else ""
    raise CommandError(f"`{key}={raw[:40]}` is not a time: write HH:MM on a 24-hour clock in UTC, "
                       f"e.g. `{key}=02:00`{hint}.")


def parse_day(key: str, low: str, raw: str) -> int:
    if low in DAYS:
        return DAYS[low]
    if is_number(low) and int(low) <= 6:
        return int(low)
    raise CommandError(f"`{key}={raw[:40]}` is not a day: use sun, mon, tue, wed, thu, fri, sat (or the full "
                       f"name), or 0–6 where 0 is Sunday.{did_you_mean(low, list(DAYS))}")

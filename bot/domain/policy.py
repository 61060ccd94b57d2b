"""Backup policies as PlanetScale's API returns and accepts them, and the rules a change must keep.

The models mirror PlanetScale's OpenAPI spec as docs/planetscale-api.md describes it; the cross-field rules come
from the facts written there (which schedule fields each frequency uses) and from what a backup policy
is for (a backup must still exist between two runs).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The API types these as `integer`; PlanetScale stores them as 32-bit values.
MAX_INT32 = 2**31 - 1
MAX_NAME_LENGTH = 255
# Always used with fullmatch: `$` would also accept a trailing newline.
SCHEDULE_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def control_character(text: str) -> str | None:
    """The first control character in `text` as U+XXXX, or None. Control characters (Unicode's Cc: C0, DEL
    and C1, so line breaks, tabs and terminal escapes) have no place in a name or a reason: they would reach
    the audit trail, its exports and whoever reads them in a terminal."""
    if text.isprintable():  # every Cc character is unprintable: most text needs no look at each character
        return None
    for ch in text:
        if unicodedata.category(ch) == "Cc":
            return f"U+{ord(ch):04X}"
    return None


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text` as U+XXXX, or None: half of a pair, which a JSON payload may carry
    (`\\ud800`) but no UTF-8 holds, so no database, file or message could take the text."""
    if text.isascii():
        return None
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"U+{ord(ch):04X}"
    return None


# Letters and symbols by category that draw nothing: the Hangul fillers and the blank braille pattern.
BLANK_SHOWN = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def shows_something(text: str) -> bool:
    """Whether `text` draws at least one character: a letter, digit, punctuation or symbol (Unicode's L, N, P
    and S). Spaces of every kind, format characters (zero-width spaces, U+2060, U+FEFF, the soft hyphen),
    combining marks alone and the fillers draw nothing: such a text says nothing, though strip() keeps it."""
    return any(unicodedata.category(ch)[0] in "LNPS" and ch not in BLANK_SHOWN for ch in text)


def first_unseen(text: str) -> str:
    """The first character of a text that draws nothing, as U+XXXX, to name it to the person who typed it."""
    return f"U+{ord(text[0]):04X}" if text else ""


def invisible_character(text: str) -> str | None:
    """The first format character in `text` as U+XXXX, or None. Format characters (Unicode's Cf: bidi overrides,
    zero-width spaces and joiners, the byte order mark) show nothing or reorder what follows, so one name could
    pass for another."""
    for ch in text:
        if not ch.isascii() and unicodedata.category(ch) == "Cf":
            return f"U+{ord(ch):04X}"
    return None


def name_key(name: str) -> str:
    """What a name reads as: its compatibility form (NFKC: a no-break or ideographic space as a space, a full-width
    letter as its plain one) with each run of spaces as one. Two names of one key show alike in every message, so a
    database holds at most one of them (case is seen, and kept apart)."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


class Target(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


class RetentionUnit(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class FrequencyUnit(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# Hours in each unit, for comparing a retention with a frequency; a month counts as its shortest, 28 days,
# so a retention of 1 month is never judged longer than it is.
UNIT_HOURS: dict[str, int] = {"hour": 1, "day": 24, "week": 168, "month": 28 * 24, "year": 365 * 24}

# The fields a person can change (the API's PATCH body), in the order forms and messages show them.
EDITABLE_FIELDS = ("name", "target", "retention_value", "retention_unit", "frequency_value", "frequency_unit",
                   "schedule_time", "schedule_day", "schedule_week")

def hours(value: int, unit: str) -> int:
    """A span in hours (a month as 28 days): for comparing a retention with a frequency."""
    return value * UNIT_HOURS.get(unit, 0)


# What one segment of PlanetScale's paths may hold (always with fullmatch: `$` would accept a trailing newline).
PATH_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
WEEK_NAMES = ("1st", "2nd", "3rd", "4th")


class BackupPolicy(BaseModel):
    """A backup policy as the API returns it (every field required; nullable where the spec says)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    display_name: str
    name: str
    target: Literal["production", "development"]
    retention_value: int
    # The spec's enums: a unit the bot does not know cannot be judged (a guardrail would count it as nothing).
    retention_unit: Literal["hour", "day", "week", "month", "year"]
    frequency_value: int
    frequency_unit: Literal["hour", "day", "week", "month"]
    schedule_time: str
    schedule_day: int | None
    schedule_week: int | None
    created_at: str
    updated_at: str
    last_ran_at: str | None
    next_run_at: str | None
    required: bool

    def field_value(self, field: str) -> Any:
        return getattr(self, field)

    @property
    def sendable(self) -> bool:
        """Whether a request can name it: PlanetScale may list an ID no path segment holds, never to be changed."""
        return PATH_SEGMENT.fullmatch(self.id) is not None


Positive = Annotated[int, Field(ge=1, le=MAX_INT32)]


class PolicyUpdate(BaseModel):
    """The body of `PATCH …/backup-policies/{id}`: every field optional; only the fields set are sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)] | None = None
    target: Target | None = None
    retention_value: Positive | None = None
    retention_unit: RetentionUnit | None = None
    frequency_value: Positive | None = None
    frequency_unit: FrequencyUnit | None = None
    schedule_time: str | None = None
    schedule_day: Annotated[int, Field(ge=0, le=6)] | None = None
    schedule_week: Annotated[int, Field(ge=0, le=3)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_explicit_nulls(cls, data: Any) -> Any:
        # The API's update fields are not nullable: a field is either sent with a value or not sent.
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null; leave the field out to keep it")
        return data

    @field_validator("name")
    @classmethod
    def _name_is_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name cannot be blank")
        if control_character(value):
            raise ValueError("name cannot hold control characters or line breaks")
        if invisible_character(value):
            raise ValueError(f"name cannot hold invisible format characters ({invisible_character(value)})")
        if not shows_something(value):
            raise ValueError(f"name shows nothing: it holds only invisible characters ({first_unseen(value.strip())})")
        return value

    @field_validator("schedule_time")
    @classmethod
    def _schedule_time_is_hh_mm(cls, value: str) -> str:
        if not SCHEDULE_TIME.fullmatch(value):
            raise ValueError("schedule_time must be HH:MM on a 24-hour clock, e.g. 02:00")
        return value

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


@dataclass(frozen=True)
class Problem:
    """Something wrong with a change: `field` names the API field (or the key the user typed) at fault."""

    field: str
    message: str


class ChangeRejected(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def resulting_values(policy: BackupPolicy, update: PolicyUpdate) -> dict[str, Any]:
    """The policy's fields as they would be after the update (before PlanetScale's own defaults)."""
    values = {name: policy.field_value(name) for name in PolicyUpdate.model_fields}
    values.update(update.to_api())
    return values


def changed_fields(policy: BackupPolicy, update: PolicyUpdate) -> list[str]:
    return [f for f, v in update.to_api().items() if policy.field_value(f) != v]


def check_change(policy: BackupPolicy, update: PolicyUpdate) -> list[Problem]:
    """Cross-field rules on the policy as it would be; an empty list means the change may be sent."""
    sent = update.to_api()
    if not sent:
        return [Problem("", "nothing to change: give at least one key, e.g. retention=30d")]
    problems = check_values(resulting_values(policy, update), sent)
    if policy.required and sent.get("target", policy.target) != policy.target:
        # PlanetScale refuses it (422): refused here, before anyone is asked to approve it.
        problems.append(Problem("target", f"it is a required system policy, which PlanetScale never moves from "
                                          f"{policy.target}: change its schedule instead"))
    if not problems and not changed_fields(policy, update):
        problems.append(Problem("", "nothing would change: the policy already has those values"))
    return problems


# What a new policy must be given (the rest PlanetScale leaves null or the schedule asks for).
REQUIRED_TO_CREATE = {"name": 'name="Nightly"', "target": "target=production", "retention_value": "retention=7d",
                      "retention_unit": "retention=7d", "frequency_value": "frequency=1d",
                      "frequency_unit": "frequency=1d", "schedule_time": "at=02:00"}


def check_new(values: dict[str, Any]) -> list[Problem]:
    """The rules a new policy must keep: what it must be given, then the cross-field rules of any change."""
    missing = list(dict.fromkeys(example for field, example in REQUIRED_TO_CREATE.items() if field not in values))
    if missing:
        return [Problem("", "a new policy needs " + ", ".join(f"`{m}`" for m in missing))]
    return check_values({"schedule_day": None, "schedule_week": None, **values}, values)


def planned_policy(values: dict[str, Any]) -> BackupPolicy:
    """A policy as a creation would make it, before PlanetScale gives it an ID and its times."""
    return BackupPolicy.model_validate({
        "schedule_day": None, "schedule_week": None, **values, "id": "", "display_name": f"Backup policy "
        f"{values['name']}", "created_at": "", "updated_at": "", "last_ran_at": None, "next_run_at": None,
        "required": False})


def check_values(after: dict[str, Any], sent: dict[str, Any]) -> list[Problem]:
    """The cross-field rules on a policy's values after a change that sends `sent`."""
    problems: list[Problem] = []
    frequency_unit = after["frequency_unit"]
    every = describe_every(after["frequency_value"], frequency_unit)
    if "schedule_day" in sent and frequency_unit not in ("week", "month"):
        problems.append(Problem(
            "schedule_day",
            f"day only applies to weekly or monthly backups, and this policy would run {every}: "
            "also set frequency=1w (or 1mo), or leave day out",
        ))
    if "schedule_week" in sent and frequency_unit != "month":
        problems.append(Problem(
            "schedule_week",
            f"week only applies to monthly backups, and this policy would run {every}: "
            "also set frequency=1mo, or leave week out",
        ))
    if frequency_unit in ("week", "month") and after["schedule_day"] is None:
        problems.append(Problem(
            "schedule_day", f"a backup that runs {every} needs a day: add day=sun (or any day)"
        ))
    if frequency_unit == "month" and after["schedule_week"] is None:
        problems.append(Problem(
            "schedule_week", f"a backup that runs {every} needs a week of the month: add week=1st"
        ))

    retention_hours = hours(after["retention_value"], after["retention_unit"])
    frequency_hours = hours(after["frequency_value"], frequency_unit)
    if retention_hours and frequency_hours and retention_hours < frequency_hours:
        kept = describe_amount(after["retention_value"], after["retention_unit"])
        problems.append(Problem(
            "retention_value" if "retention_value" in sent else "frequency_value",
            f"backups would be kept {kept} but taken {every}, so for part of each cycle no backup "
            f"would exist: keep them at least {describe_amount(after['frequency_value'], frequency_unit)}, "
            "or back up more often",
        ))
    return problems


def describe_amount(value: int, unit: str) -> str:
    return f"{value} {unit}" + ("" if value == 1 else "s")


def describe_every(value: int, unit: str) -> str:
    return f"every {unit}" if value == 1 else f"every {describe_amount(value, unit)}"


def describe_day(day: int | None) -> str:
    return DAY_NAMES[day] if day is not None and 0 <= day < len(DAY_NAMES) else "—"


def describe_week(week: int | None) -> str:
    return f"{WEEK_NAMES[week]} week" if week is not None and 0 <= week < len(WEEK_NAMES) else "—"


def describe_schedule(values: dict[str, Any] | BackupPolicy) -> str:
    """A policy in words: "every 12 hours at 02:00 UTC, kept 30 days"."""
    v = values.model_dump() if isinstance(values, BackupPolicy) else values
    unit = v["frequency_unit"]
    when = describe_every(v["frequency_value"], unit)
    if unit == "month" and v.get("schedule_day") is not None and v.get("schedule_week") is not None:
        when += f" on the {describe_week(v['schedule_week'])}'s {describe_day(v['schedule_day'])}"
    elif unit in ("week", "month") and v.get("schedule_day") is not None:
        when += f" on {describe_day(v['schedule_day'])}"
    when += f" at {v['schedule_time']} UTC"
    return f"{when}, kept {describe_amount(v['retention_value'], v['retention_unit'])}"


FIELD_LABELS: dict[str, str] = {
    "name": "name",
    "target": "target",
    "retention_value": "retention",
    "retention_unit": "retention",
    "frequency_value": "frequency",
    "frequency_unit": "frequency",
    "schedule_time": "time",
    "schedule_day": "day",
    "schedule_week": "week",
}


def describe_field(label: str, values: dict[str, Any]) -> str:
    """One user-facing setting (as grouped in FIELD_LABELS) in words."""
    if label == "retention":
        return describe_amount(values["retention_value"], values["retention_unit"])
    if label == "frequency":
        return describe_every(values["frequency_value"], values["frequency_unit"])
    if label == "time":
        return f"{values['schedule_time']} UTC"
    if label == "day":
        return describe_day(values["schedule_day"])
    if label == "week":
        return describe_week(values["schedule_week"])
    return str(values[label])


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str


def describe_changes(before: BackupPolicy, after: dict[str, Any] | BackupPolicy) -> list[FieldChange]:
    """Before → after for each setting that differs, in the order users read a policy."""
    old = before.model_dump()
    new = after.model_dump() if isinstance(after, BackupPolicy) else after
    changes: list[FieldChange] = []
    for label in dict.fromkeys(FIELD_LABELS.values()):
        fields = [f for f, lab in FIELD_LABELS.items() if lab == label]
        if any(old.get(f) != new.get(f) for f in fields):
            changes.append(FieldChange(label, describe_field(label, old), describe_field(label, new)))
    return changes


def moved_meanwhile(read: BackupPolicy, update: PolicyUpdate, answer: BackupPolicy) -> str:
    """The settings PlanetScale's answer to a PATCH holds that neither the policy as read under the lease nor
    the PATCH set (someone moved them in between), in words; empty when there are none. A schedule the PATCH
    changes the unit of may be reshaped by PlanetScale, so it is left out then."""
    sent = update.to_api()
    reshaped = {"schedule_time", "schedule_day", "schedule_week"} if "frequency_unit" in sent else set()
    moved = [f"{f}={answer.field_value(f)}" for f in EDITABLE_FIELDS
             if f not in sent and f not in reshaped and answer.field_value(f) != read.field_value(f)]
    return ", ".join(moved)

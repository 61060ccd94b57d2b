"""Guardrails: bounds on what any change may make of a policy, whoever asks (docs/access-rules.md).

Every guardrail that covers a policy applies, not only the first. A change is judged against the policy as it
would be after it. A broken guardrail refuses the change, unless it sets `override_approvals`: then the change
may still go through with that many approvals and a reason. The same judgement runs when a change is asked
and again when it applies.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bot.domain.costs import (
    DatabaseFacts,
    describe_apart,
    describe_size,
    estimate,
    kept_at_once,
    parse_size,
    unread_words,
)
from bot.domain.policy import MAX_INT32, UNIT_HOURS, describe_amount, describe_every, shows_something

# A month counts as its shortest (28 days) when it is how long backups are kept, and as its longest when it is
# how long one waits between two backups: either way the guardrail is never judged looser than it is.
LONGEST_UNIT_HOURS: dict[str, int] = {**UNIT_HOURS, "month": 31 * 24, "year": 366 * 24}
CALENDAR_MONTHS = {"month": 1, "year": 12}
AMOUNT_UNITS: dict[str, str] = {
    "h": "hour", "hour": "hour", "hours": "hour", "d": "day", "day": "day", "days": "day",
    "w": "week", "week": "week", "weeks": "week", "mo": "month", "month": "month", "months": "month",
    "y": "year", "year": "year", "years": "year",
}
SHORT_UNITS = {"hour": "h", "day": "d", "week": "w", "month": "mo", "year": "y"}


def parse_amount(text: str, allow_years: bool) -> tuple[int, str]:
    """`7d`, `12h`, `1 week`: a whole number and a backup unit."""
    raw = text.strip()
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ").strip()
    unit = AMOUNT_UNITS.get(raw[len(number):].strip().lower())
    if number and not number.isascii():  # int() would take Arabic-Indic or fullwidth digits
        raise ValueError(f"`{text}` is not an amount: write its number in the digits 0-9, e.g. 7d")
    if number.isdigit() and len(number) > 4000:  # past Python's bound on the digits int() converts
        raise ValueError(f"`{text[:40]}…` is not an amount: its number has {len(number)} digits; write a whole "
                         "number and a unit, e.g. 7d")
    if not number.isdigit() or int(number) < 1 or unit is None or (unit == "year" and not allow_years):
        units = "h, d, w, mo" + (", y" if allow_years else "")
        raise ValueError(f"`{text}` is not an amount: write a whole number and a unit ({units}), e.g. 7d")
    return int(number), unit


# What a PlanetScale organization's or database's name holds, lowercased (bot/domain/commands.py SLUG), and what a
# glob adds (fnmatch's `*`, `?`, `[…]`, `[!…]`).
PATTERN_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-*?[]!")
PATTERN_FORM = "names are letters, digits, `-` and `_` (a glob adds `*`, `?` and `[…]`), e.g. `app-db` or `billing-*`"


def name_patterns(values: list[str]) -> list[str]:
    """Patterns of organizations or databases, lowercased as PlanetScale's names and what users type are; a
    ValueError for one no name can match (a stray space, `org/db`), which would leave its rule or guardrail silently
    covering nothing."""
    for value in values:
        shown = value if len(value) <= 40 else value[:39] + "…"
        if not value:
            raise ValueError(f"a pattern is empty, and matches no name: {PATTERN_FORM}")
        if any(ch in "\n\r\t" or (not ch.isprintable() and not ch.isspace()) for ch in value):
            raise ValueError(f"a pattern holds a control character, which no PlanetScale name does: {PATTERN_FORM}")
        if any(ch.isspace() for ch in value):
            raise ValueError(f"`{shown}` holds a space, which no PlanetScale name does: {PATTERN_FORM}")
        if "/" in value:
            raise ValueError(f"`{shown}` holds `/`, which no PlanetScale name does: write the organization in "
                             f"`organizations` and the database in `databases`; {PATTERN_FORM}")
        odd = next((ch for ch in value.lower() if ch not in PATTERN_CHARACTERS), None)
        if odd is not None:
            raise ValueError(f"`{shown}` holds `{odd}`, which no PlanetScale name does: {PATTERN_FORM}")
        if not matches_some_name(value.lower()):
            raise ValueError(f"`{shown}` matches no PlanetScale name (a `!` outside `[…]`, or a `[` or `]` left "
                             f"unpaired, is read as itself; `[!…]` leaves out what it lists): {PATTERN_FORM}")
    return [value.lower() for value in values]


NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789-_"


def matches_some_name(pattern: str) -> bool:
    """Whether some name of NAME_CHARACTERS matches the glob, read as fnmatch reads it: `!` and an unpaired `[` or
    `]` are themselves, which no name holds, and a class must take one of the names' characters."""
    at = 0
    while at < len(pattern):
        ch = pattern[at]
        at += 1
        if ch in "*?":
            continue
        if ch != "[":
            if ch not in NAME_CHARACTERS:
                return False
            continue
        end = at + (pattern[at:at + 1] == "!")
        end += pattern[end:end + 1] == "]"
        end = pattern.find("]", end)
        if end < 0:
            return False  # `[` with no `]` after it: fnmatch reads it as itself
        if not any(fnmatch.fnmatchcase(name_ch, pattern[at - 1:end + 1]) for name_ch in NAME_CHARACTERS):
            return False
        at = end + 1
    return True


def named_some(values: list[str], key: str, omitted: str) -> list[str]:
    """An explicit list that names none (`targets = []`): read as the key left out, it would mean every one."""
    if not values:
        raise ValueError(f"an empty list names none: leave `{key}` out for {omitted}, or name at least one")
    return values


def whole_number(value: Any, key: str) -> Any:
    """A number of the rules file as written: pydantic would take `true`, `"1"` and `1.0` as 1."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"`{as_written(value)}` is not a whole number: write one without quotes, e.g. {key} = 2")


def as_written(value: Any) -> str:
    """A TOML value as the file spells it, for a message."""
    shown = str(value).lower() if isinstance(value, bool) else f'"{value}"' if isinstance(value, str) else str(value)
    return shown if len(shown) <= 40 else shown[:39] + "…"


class Guardrail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organizations: list[str] = Field(min_length=1)
    databases: list[str] = Field(min_length=1)
    targets: list[Literal["production", "development"]] = Field(default_factory=list)
    min_retention: str | None = None
    max_interval: str | None = None
    allow_target_moves: bool = True
    min_policies: int | None = Field(default=None, ge=1, le=1000)
    max_storage: str | None = None
    override_approvals: int | None = Field(default=None, ge=1, le=10)
    # Where the guardrail starts in the file, for messages: set by the loader.
    number: int = 0
    line: int = 0

    @field_validator("organizations", "databases")
    @classmethod
    def _lowercase_patterns(cls, values: list[str]) -> list[str]:
        return name_patterns(values)

    @field_validator("targets")
    @classmethod
    def _some_targets(cls, values: list[str]) -> list[str]:
        return named_some(values, "targets", "both targets")

    @field_validator("min_policies", "override_approvals", mode="before")
    @classmethod
    def _whole(cls, value: Any, info: ValidationInfo) -> Any:
        return whole_number(value, str(info.field_name))

    @field_validator("allow_target_moves", mode="before")
    @classmethod
    def _true_or_false(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        raise ValueError(f"`{as_written(value)}` is not true or false: write allow_target_moves = false, "
                         "without quotes")

    @field_validator("min_retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        if value is not None:
            amount, unit = parse_amount(value, allow_years=True)
            if not _at_least(MAX_INT32, "year", amount, unit):
                raise ValueError(f"`{value[:40]}` is longer than any retention PlanetScale keeps (at most "
                                 f"{MAX_INT32} years), so every change would be refused: write a shorter one, "
                                 "e.g. 30d")
        return value

    @field_validator("max_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_amount(value, allow_years=False)
        return value

    @field_validator("max_storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)
        return value

    @property
    def where(self) -> str:
        return f"guardrail {self.number} (line {self.line})"

    @property
    def binds_anything(self) -> bool:
        return (self.min_retention is not None or self.max_interval is not None or not self.allow_target_moves
                or self.min_policies is not None or self.max_storage is not None)

    def covers(self, organization: str, database: str, target: str) -> bool:
        return (any(fnmatch.fnmatchcase(organization, p) for p in self.organizations)
                and any(fnmatch.fnmatchcase(database, p) for p in self.databases)
                and (not self.targets or target in self.targets))


@dataclass(frozen=True)
class Check:
    """One bound of one guardrail, judged on one change: `fix` is the nearest value it allows."""

    guardrail: Guardrail
    bound: str  # "min_retention", "max_interval", "allow_target_moves", "min_policies", "max_storage"
    met: bool
    message: str
    fix: str = ""

    def describe(self) -> str:
        text = f"{self.guardrail.where}: {self.message}"
        if not self.met and self.fix:
            text += f"; the nearest allowed: `{self.fix}`"
        if not self.met and self.guardrail.override_approvals:
            text += (f" (or {self.guardrail.override_approvals} approval"
                     f"{'s' if self.guardrail.override_approvals != 1 else ''} and a reason)")
        return text


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...] = ()

    @property
    def broken(self) -> list[Check]:
        return [c for c in self.checks if not c.met]

    @property
    def met(self) -> list[Check]:
        return [c for c in self.checks if c.met]

    @property
    def refused(self) -> list[Check]:
        """Broken, and no number of approvals lets it through."""
        return [c for c in self.broken if not c.guardrail.override_approvals]

    @property
    def override_approvals(self) -> int:
        """The approvals the broken guardrails ask for (0 when none is broken)."""
        return max((c.guardrail.override_approvals or 0 for c in self.broken), default=0)

    def summary(self) -> list[str]:
        return [("meets " if c.met else "breaks ") + c.describe() for c in self.checks]


def _hours(value: int, unit: str, longest: bool) -> int:
    return value * (LONGEST_UNIT_HOURS if longest else UNIT_HOURS).get(unit, 0)


def _at_least(value: int, unit: str, bound: int, bound_unit: str) -> bool:
    """value unit ≥ bound bound_unit, for certain: in one unit the numbers decide; across units a month or year
    counts at its shortest on the side that must be long enough and at its longest on the bound."""
    if unit == bound_unit:
        return value >= bound
    if {unit, bound_unit} <= CALENDAR_MONTHS.keys():  # a year is twelve months, whichever they are
        return value * CALENDAR_MONTHS[unit] >= bound * CALENDAR_MONTHS[bound_unit]
    return _hours(value, unit, False) >= _hours(bound, bound_unit, True)


def judge(guardrails: Sequence[Guardrail], organization: str, database: str, before: Mapping[str, Any],
          after: Mapping[str, Any] | None, facts: DatabaseFacts | None = None) -> Verdict:
    """Every bound of every guardrail covering the policy, judged on the policy as it would be after the change.

    A guardrail covering the target the policy would have bounds its retention, frequency and storage; one
    covering the target it has now or would have bounds a move between them (a move out must not escape it).
    `after` None is a deletion: only the database's floor of policies bounds it. `facts` (the database's
    policies, the estimate's basis) judge `min_policies` and `max_storage`; without them those are not judged."""
    if after is None:
        return Verdict(tuple(_floor_checks(guardrails, organization, database, str(before["target"]), facts)))
    checks: list[Check] = []
    moved = before["target"] != after["target"]
    if moved:
        checks += _floor_checks(guardrails, organization, database, str(before["target"]), facts)
    for guardrail in guardrails:
        covers_after = guardrail.covers(organization, database, str(after["target"]))
        covers_before = guardrail.covers(organization, database, str(before["target"]))
        if not (covers_after or covers_before):
            continue
        if not guardrail.allow_target_moves and moved:
            checks.append(Check(guardrail, "allow_target_moves", False,
                                f"moves between targets are not allowed ({before['target']} → {after['target']})",
                                f"target={before['target']}"))
        elif not guardrail.allow_target_moves:
            checks.append(Check(guardrail, "allow_target_moves", True, f"stays {after['target']}"))
        if not covers_after:
            continue
        if guardrail.min_retention is not None:
            value, unit = parse_amount(guardrail.min_retention, allow_years=True)
            floor = describe_amount(value, unit)
            kept = describe_amount(after["retention_value"], after["retention_unit"])
            met = _at_least(after["retention_value"], after["retention_unit"], value, unit)
            checks.append(Check(guardrail, "min_retention", met,
                                f"backups kept {kept}, at least {floor} required" if not met
                                else f"backups kept {kept} (at least {floor})",
                                f"retention={value}{SHORT_UNITS[unit]}"))
        if guardrail.max_interval is not None:
            value, unit = parse_amount(guardrail.max_interval, allow_years=False)
            ceiling = describe_amount(value, unit)
            every = describe_every(after["frequency_value"], after["frequency_unit"])
            # A frequency of nothing (PlanetScale may hold 0) takes no backup at all: within no ceiling.
            met = after["frequency_value"] >= 1 and _at_least(value, unit, after["frequency_value"],
                                                              after["frequency_unit"])
            checks.append(Check(guardrail, "max_interval", met,
                                f"backups taken {every}, at most {ceiling} apart required" if not met
                                else f"backups taken {every} (at most {ceiling} apart)",
                                f"frequency={value}{SHORT_UNITS[unit]}"))
        if guardrail.max_storage is not None and facts is not None:
            checks.append(_storage_check(guardrail, after, facts))
    return Verdict(tuple(checks))


def _floor_checks(guardrails: Sequence[Guardrail], organization: str, database: str, leaving: str,
                  facts: DatabaseFacts | None) -> list[Check]:
    """A policy leaves `leaving` (deleted, or moved out of it): each guardrail's floor of policies there. Without
    the database's policies (a form's preview knows only the estimate's basis) the floor is judged when asked."""
    if facts is None or not facts.policies:
        return []
    left = max(0, facts.count(leaving) - 1)
    where = f"{leaving} policies of {organization}/{database}"
    landing = {i for i, t in facts.landing if t != leaving}
    gone = [i for i, _, t in facts.policies if t == leaving and i in landing]
    counted = f" (counting {', '.join(gone)} gone: the bot's deletion or move of it was not confirmed, and " \
              "PlanetScale may still carry it out)" if gone else ""
    arriving = facts.arriving(leaving)
    counted += f" (not counting {', '.join(arriving)}: the bot's move of it here was not confirmed, and may never " \
               "land)" if arriving else ""
    return [Check(g, "min_policies", left >= g.min_policies,
                  f"{where} would be {left}{counted}, at least {g.min_policies} required" if left < g.min_policies
                  else f"{left} {where} left (at least {g.min_policies})")
            for g in guardrails if g.min_policies is not None and g.covers(organization, database, leaving)]


def _storage_check(guardrail: Guardrail, after: Mapping[str, Any], facts: DatabaseFacts) -> Check:
    assert guardrail.max_storage is not None
    ceiling = parse_size(guardrail.max_storage)
    shown = describe_size(ceiling)
    new = estimate(None, after, facts).after
    if new is None or new.storage is None or facts.after is None:
        why = f"its backups {unread_words(facts.unread)}" if facts.unread else \
            "no successful backup to estimate from yet"
        return Check(guardrail, "max_storage", True, f"storage not estimated: {why} (at most {shown})")
    kept = f"{new.kept} backup{'s' if new.kept != 1 else ''}"
    if new.storage <= ceiling:
        return Check(guardrail, "max_storage", True, f"about {describe_size(new.storage)} kept ({kept}; at most "
                                                     f"{shown})")
    most = ceiling // facts.after.size if facts.after.size else 0
    unit = str(after["frequency_unit"])
    fix = f"retention={most * after['frequency_value']}{SHORT_UNITS[unit]}" if most >= 1 and \
        kept_at_once({**after, "retention_value": most * after["frequency_value"], "retention_unit": unit}) <= most \
        else ""
    told, most_told = describe_apart(new.storage, ceiling)
    return Check(guardrail, "max_storage", False, f"about {told} kept ({kept} of {describe_size(facts.after.size)}), "
                                                  f"at most {most_told} allowed", fix)


@dataclass(frozen=True)
class Demand:
    """What the guardrails ask of a change: refused (with the words why), or how many approvals it needs."""

    verdict: Verdict
    approvals: int = 0
    refusal: str | None = None


def demand(verdict: Verdict, reason: str | None) -> Demand:
    """Refused if a broken guardrail allows no override, or if an override is needed and no reason is given."""
    if verdict.refused:
        return Demand(verdict, refusal="the guardrails refuse this change: "
                      + "; ".join(c.describe() for c in verdict.refused))
    if verdict.broken and not shows_something(reason or ""):
        return Demand(verdict, refusal="this change breaks "
                      + "; ".join(c.describe() for c in verdict.broken)
                      + ". It can go through only with a reason: add `reason=\"…\"` saying why")
    return Demand(verdict, approvals=verdict.override_approvals)

"""The rules of `access.toml` (docs/access-rules.md): its TOML parsed and checked into `AccessRules`, every
mistake named with its line; the durations and reminder moments the rules are written in.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from enum import Enum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from bot.domain.field_problems import field_problems
from bot.domain.guardrails import Guardrail, name_patterns, named_some, whole_number

# Always used with fullmatch: `$` would also accept a trailing newline.
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
GROUP_HANDLE = re.compile(r"@[a-z0-9][a-z0-9._-]*")
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
DURATION = re.compile(r"([0-9]+)\s*(m|min|h|d|w)")
DURATION_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
# A request born expired could never be approved; one past 90 days outlives any reason given for it (and a
# date beyond the calendar cannot be shown).
EXPIRE_AFTER_MIN, EXPIRE_AFTER_MAX = 60, 90 * 86400


class AccessFileError(Exception):
    """`access.toml` cannot be used; the message names the file, the line and the reason."""


class Action(Enum):
    READ = "read"  # list, show, history
    CHANGE = "change"  # update, edit: request a change
    APPROVE = "approve"


def describe_duration(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:.0f} seconds"


def _shown(text: str) -> str:
    """A value of the file in a message: its start, enough to find it (the line is named beside it)."""
    return text if len(text) <= 60 else text[:59] + "…"


def parse_duration(text: str) -> int:
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"`{_shown(text)}` is not a duration: write e.g. 30m, 24h, 2d or 1w")
    return int(match.group(1)) * DURATION_SECONDS[match.group(2)]


def _principals(values: list[str]) -> list[str]:
    for value in values:
        if not (USER_ID.fullmatch(value) or GROUP_ID.fullmatch(value) or GROUP_HANDLE.fullmatch(value)):
            raise ValueError(f"`{value}` is neither a Slack user ID (U…/W…) nor a user group (@handle or S…); "
                             "names and e-mail addresses change, IDs do not")
    return values


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organizations: list[str] = Field(min_length=1)
    databases: list[str] = Field(min_length=1)
    targets: list[Literal["production", "development"]] = Field(default_factory=list)
    editors: list[str] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)
    approvals: int = Field(default=0, ge=0, le=10)
    # Approvals from several groups, each (group, how many): written `approvals = { "@dba-leads" = 1, … }` or
    # `approvals_from = { … }`; `approvals` is then their sum, and the groups may approve.
    approvals_from: tuple[tuple[str, int], ...] = ()
    channels: list[str] = Field(default_factory=list)
    planetscale_role: Literal["admin", "member"] | None = None
    # Where the rule starts in the file, for messages: set by the loader.
    number: int = 0
    line: int = 0

    @model_validator(mode="before")
    @classmethod
    def _approvals_by_group(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        by_group = data.get("approvals_from")
        if isinstance(data.get("approvals"), dict):
            if by_group is not None:
                raise ValueError("write the approvals each group gives once: in `approvals` or in "
                                 "`approvals_from`, not both")
            by_group = data["approvals"]
        if by_group is None:
            return data
        if not isinstance(by_group, dict) or not by_group:
            raise ValueError("approvals from groups are a table of group = count, e.g. "
                             '{ "@dba-leads" = 1, "@security" = 1 }')
        pairs = []
        for group, count in by_group.items():
            if not (GROUP_HANDLE.fullmatch(group) or GROUP_ID.fullmatch(group)):
                raise ValueError(f"`{group}` is not a user group (@handle or S…): approvals are asked from groups")
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10:
                raise ValueError(f"{group} = {count!r}: each group gives 1 to 10 approvals")
            pairs.append((group, count))
        total = sum(count for _, count in pairs)
        if isinstance(data.get("approvals"), int) and data["approvals"] not in (0, total):
            raise ValueError(f"approvals = {data['approvals']} but the groups give {total}: leave out the number, "
                             "the groups' counts add up to it")
        approvers = data.get("approvers") or []
        if not isinstance(approvers, list):  # left as written, for the field's own check to name
            return {**data, "approvals": total, "approvals_from": tuple(pairs)}
        return {**data, "approvals": total, "approvals_from": tuple(pairs),
                "approvers": approvers + [g for g, _ in pairs if g not in approvers]}

    @field_validator("approvals", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        return whole_number(value, "approvals")

    @field_validator("organizations", "databases")
    @classmethod
    def _lowercase_patterns(cls, values: list[str]) -> list[str]:
        # PlanetScale's names are lowercase and the bot lowercases what users type, so a pattern written
        # `App-DB` must match `app-db` rather than never match (and leave it to a broader rule below).
        return name_patterns(values)

    @field_validator("targets")
    @classmethod
    def _some_targets(cls, values: list[str]) -> list[str]:
        return named_some(values, "targets", "both targets")

    @field_validator("editors", "approvers")
    @classmethod
    def _people(cls, values: list[str]) -> list[str]:
        return _principals(values)

    @field_validator("channels")
    @classmethod
    def _channel_ids(cls, values: list[str]) -> list[str]:
        named_some(values, "channels", "any channel")
        for value in values:
            if not CHANNEL_ID.fullmatch(value):
                raise ValueError(f"`{value}` is not a channel ID (C…): names change, IDs do not")
        return values

    def covers(self, organization: str, database: str, target: str | None) -> bool:
        return (any(fnmatch.fnmatchcase(organization, p) for p in self.organizations)
                and any(fnmatch.fnmatchcase(database, p) for p in self.databases)
                and (target is None or not self.targets or target in self.targets))

    def allows_channel(self, channel: str) -> bool:
        return not self.channels or channel in self.channels

    @property
    def where(self) -> str:
        return f"rule {self.number} (line {self.line})"


SHARE_OF_LIFE = re.compile(r"([0-9]{1,2})\s*%")
# Greedy up to its last non-space: a lazy `(.+?)\s+` tries every run of spaces at every start, and a reminder of
# a million spaces would hold the reload (and every decision waiting on it) for hours.
BEFORE_EXPIRY = re.compile(r"(.*\S)\s+before\s+expiry")
DEFAULT_REMINDERS = ("50%", "1h before expiry")


def parse_reminder(text: str) -> str:
    """A moment in a request's life when its approvers are reminded: `50%` of its life, or `1h before expiry`."""
    share = SHARE_OF_LIFE.fullmatch(text.strip())
    if share:
        if not 1 <= int(share.group(1)) <= 99:
            raise ValueError(f"`{_shown(text)}`: a share of the request's life is between 1% and 99%")
        return f"{int(share.group(1))}%"
    before = BEFORE_EXPIRY.fullmatch(text.strip())
    if before:
        ahead = parse_duration(before.group(1))
        if ahead > EXPIRE_AFTER_MAX:  # earlier than any request can live: its time would not be drawable
            raise ValueError(f"`{_shown(text)}`: a reminder falls at most {describe_duration(EXPIRE_AFTER_MAX)} before "
                             "expiry, the longest a request may wait")
        return f"{before.group(1).strip()} before expiry" if ahead else text
    raise ValueError(f"`{_shown(text)}` is not a moment of a request's life: write a share of it (`50%`) or a time "
                     "before it expires (`1h before expiry`)")


def reminder_at(moment: str, created_at: float, expires_at: float) -> float:
    """When a reminder written as `parse_reminder` accepts it falls for a request."""
    share = SHARE_OF_LIFE.fullmatch(moment)
    if share:
        return created_at + (expires_at - created_at) * int(share.group(1)) / 100
    before = BEFORE_EXPIRY.fullmatch(moment)
    return expires_at - parse_duration(before.group(1)) if before else expires_at


MATCHED_KEPT = 4096  # places whose matching rule is kept, per version of the rules


class AccessRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    expire_after_seconds: int = 24 * 3600
    # When approvers of a pending request are reminded, each at most once (see parse_reminder).
    reminders: tuple[str, ...] = DEFAULT_REMINDERS
    rules: list[Rule] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)

    # The rule each place asked about matches, kept: judging who could approve asks it once per person a group
    # holds, and the rules never change once read.
    _matched: dict[tuple[str, str, str | None, str], Rule | None] = PrivateAttr(default_factory=dict)

    def matching(self, organization: str, database: str, target: str | None, channel: str) -> Rule | None:
        key = (organization, database, target, channel)
        if key in self._matched:
            return self._matched[key]
        found = next((rule for rule in self.rules
                      if rule.covers(organization, database, target) and rule.allows_channel(channel)), None)
        if len(self._matched) >= MATCHED_KEPT:
            self._matched.clear()
        self._matched[key] = found
        return found

    def covering(self, organization: str, database: str, target: str | None) -> list[Rule]:
        return [r for r in self.rules if r.covers(organization, database, target)]


LONG_NUMBER = re.compile(r"[0-9][0-9_]{4000,}")


def parse_rules(text: str, path: str = "access.toml") -> AccessRules:
    """Parse and validate; any problem is one AccessFileError naming the file, line and reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AccessFileError(f"{path}: {exc}") from None
    except ValueError:  # an integer past Python's bound on the digits it converts
        long_number = LONG_NUMBER.search(text)
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else 0
        raise AccessFileError(f"{path} line {line}: a number too long to read; the rules' numbers are small "
                              "(approvals = 2).") from None
    except RecursionError:
        raise AccessFileError(f"{path} line {_too_deep(text)}: arrays or tables nested too deeply to read; "
                              "the rules need at most two levels (a list of names in a rule).") from None
    rule_lines = _header_lines(text, "rules")
    unknown = set(data) - {"approvals", "rules", "guardrails"}
    if unknown:
        raise _out_of_place(text, data, sorted(unknown)[0], path)
    approvals = data.get("approvals", {})
    if not isinstance(approvals, dict) or set(approvals) - {"expire_after", "remind"}:
        raise AccessFileError(f"{_where(path, _top_line(text, 'approvals'))}: [approvals] takes only expire_after "
                              "and remind.")
    try:
        expire = parse_duration(str(approvals.get("expire_after", "24h")))
        if not EXPIRE_AFTER_MIN <= expire <= EXPIRE_AFTER_MAX:
            raise ValueError(f"`{approvals['expire_after']}` is out of range: a request waits for its approvals "
                             f"from {describe_duration(EXPIRE_AFTER_MIN)} to {describe_duration(EXPIRE_AFTER_MAX)}"
                             ", e.g. 24h")
    except ValueError as exc:
        raise AccessFileError(f"{_where(path, _approvals_line(text, 'expire_after'))}: expire_after: {exc}.") from None
    remind = approvals.get("remind", list(DEFAULT_REMINDERS))
    try:
        if not isinstance(remind, list):
            raise ValueError("write a list, e.g. remind = [\"50%\", \"1h before expiry\"], or [] for none")
        reminders = tuple(dict.fromkeys(parse_reminder(str(moment)) for moment in remind))
    except ValueError as exc:
        raise AccessFileError(f"{_where(path, _approvals_line(text, 'remind'))}: remind: {exc}.") from None
    raw_rules = _tables(data, "rules", "rule", text, path)
    if not raw_rules:
        raise AccessFileError(f"{path}: no [[rules]]: with no rule nobody may see or change anything.")
    rules = []
    for index, raw in enumerate(raw_rules):
        line = rule_lines[index] if index < len(rule_lines) else 0
        rules.append(_table(Rule, raw, "rule", index, line, text, path))
        if not rules[-1].editors and not rules[-1].approvers:
            raise AccessFileError(f"{path} line {line} (rule {index + 1}): the rule names no editors and no "
                                  "approvers, so it would only lock everyone out: add some, or remove it.")
        if rules[-1].approvals and not rules[-1].approvers:
            raise AccessFileError(f"{path} line {line} (rule {index + 1}): approvals = {rules[-1].approvals} "
                                  "but no approvers: name who may approve.")
    return AccessRules(expire_after_seconds=expire, reminders=reminders, rules=rules,
                       guardrails=_parse_guardrails(text, data, path))


def _out_of_place(text: str, data: dict[str, Any], key: str, path: str) -> AccessFileError:
    """A top-level table the file has no place for, or a key written above every table (a rule's or [approvals]'
    key, its table's header forgotten)."""
    line = _top_line(text, key) if len(key) <= 100 else 0
    where = f"{path} line {line}" if line else path
    shown = key if len(key) <= 40 else key[:39] + "…"
    if isinstance(data[key], dict) or (isinstance(data[key], list) and data[key]
                                       and all(isinstance(item, dict) for item in data[key])):
        return AccessFileError(f"{where}: unknown table `{shown}`: only [approvals], [[rules]] and [[guardrails]].")
    return AccessFileError(f"{where}: `{shown}` is written above every table, where no key belongs: put it in the "
                           "table it is a key of ([approvals], a [[rules]] or a [[guardrails]]), below its header.")


def _parse_guardrails(text: str, data: dict[str, Any], path: str) -> list[Guardrail]:
    lines = _header_lines(text, "guardrails")
    raw_guardrails = _tables(data, "guardrails", "guardrail", text, path)
    guardrails = []
    for index, raw in enumerate(raw_guardrails):
        line = lines[index] if index < len(lines) else 0
        where = f"{path} line {line} (guardrail {index + 1})"
        guardrail = _table(Guardrail, raw, "guardrail", index, line, text, path)
        if not guardrail.binds_anything:
            raise AccessFileError(f"{where}: the guardrail bounds nothing: set min_retention, max_interval, "
                                  "allow_target_moves = false, min_policies or max_storage, or remove it.")
        guardrails.append(guardrail)
    return guardrails


def _tables(data: dict[str, Any], key: str, kind: str, text: str, path: str) -> list[dict[str, Any]]:
    """`[[key]]` tables, or an AccessFileError when the key holds anything else (`rules = ["x"]`)."""
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise AccessFileError(f"{path} line {_top_line(text, key)}: {key}: write each {kind} as a [[{key}]] table.")
    return raw


TableModel = TypeVar("TableModel", Rule, Guardrail)


def _table(model: type[TableModel], raw: Any, kind: str, index: int, line: int, text: str,
           path: str) -> TableModel:
    """One [[rules]] or [[guardrails]] table as its model, or an AccessFileError naming the line of the key at
    fault, the table's number and the reason."""
    try:
        return model(**raw, number=index + 1, line=line)
    except ValidationError as exc:
        first = field_problems(exc)[0]
        key = first.field or kind
        key_line = _line_of(text, key, start=line) or line
        raise AccessFileError(f"{path} line {key_line} ({kind} {index + 1}): {key}: {first.message}.") from None
    except TypeError as exc:
        raise AccessFileError(f"{path} line {line} ({kind} {index + 1}): {exc}.") from None


def _header_lines(text: str, key: str) -> list[int]:
    """The lines of the `[[key]]` headers, as TOML writes them (spaces inside the brackets allowed)."""
    header = re.compile(rf"\s*\[\[\s*{key}\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), start=1) if header.match(line)]


def _top_line(text: str, key: str) -> int:
    """The line of a top-level key: its `[key]` or `[[key]]` header, else `key = …` before the first table."""
    header = re.compile(rf"\s*\[\[?\s*{re.escape(key)}\s*\]")
    value = re.compile(rf"\s*{re.escape(key)}\s*[=.]")
    for n, line in enumerate(text.splitlines(), start=1):
        if header.match(line):
            return n
    for n, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("["):
            break
        if value.match(line):
            return n
    return 0


def _approvals_line(text: str, key: str) -> int:
    """The line of an [approvals] key however TOML lets it be written (`key = …` under [approvals],
    `approvals.key = …`, `[approvals.key]`, `key.x = …`); 0 if none is found."""
    written = re.compile(rf"\s*(\[\s*)?(approvals\s*\.\s*)?{re.escape(key)}\s*[=.\]]")
    return next((n for n, line in enumerate(text.splitlines(), start=1) if written.match(line)), 0)


def _where(path: str, line: int) -> str:
    """Where a mistake is: its line when one is found, else the file alone."""
    return f"{path} line {line}" if line else path


def _line_of(text: str, needle: str, start: int = 1) -> int:
    for n, line in enumerate(text.splitlines(), start=1):
        if n >= start and line.strip().startswith(needle):
            return n
    return 0


def _too_deep(text: str, deepest: int = 100) -> int:
    """The line where brackets outside strings and comments first nest past `deepest` (0 if none is found)."""
    depth, quote = 0, ""
    for number, line in enumerate(text.splitlines(), start=1):
        for ch in line:
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif ch in "[{":
                depth += 1
                if depth > deepest:
                    return number
            elif ch in "]}":
                depth -= 1
        quote = ""
    return 0


def decode_rules(raw: bytes, path: str) -> AccessRules:
    """The rules in a file's bytes; an AccessFileError naming the line and the reason for anything wrong in them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise AccessFileError(f"{path} line {line}: byte 0x{raw[exc.start]:02X} is not UTF-8 (the file seems "
                              "saved in another encoding, e.g. Latin-1); save it as UTF-8.") from None
    return parse_rules(text.removeprefix("\ufeff"), path)

"""Who may do what to which policy, from which channel: the rules of `access.toml` (docs/access-rules.md).

The first rule that matches the organization, database, target and channel decides; no matching rule means
no access. A change of target is judged under the current target's rule and the new one's, and must pass
both. Rules name Slack user IDs and user groups (`@handle` or `S…` ID), which `GroupDirectory` resolves.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
import threading
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.guardrails import Guardrail

log = logging.getLogger(__name__)

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


def parse_duration(text: str) -> int:
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"`{text}` is not a duration: write e.g. 30m, 24h, 2d or 1w")
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
        approvers = list(data.get("approvers") or [])
        return {**data, "approvals": total, "approvals_from": tuple(pairs),
                "approvers": approvers + [g for g, _ in pairs if g not in approvers]}

    @field_validator("organizations", "databases")
    @classmethod
    def _lowercase_patterns(cls, values: list[str]) -> list[str]:
        # PlanetScale's names are lowercase and the bot lowercases what users type, so a pattern written
        # `App-DB` must match `app-db` rather than never match (and leave it to a broader rule below).
        return [value.lower() for value in values]

    @field_validator("editors", "approvers")
    @classmethod
    def _people(cls, values: list[str]) -> list[str]:
        return _principals(values)

    @field_validator("channels")
    @classmethod
    def _channel_ids(cls, values: list[str]) -> list[str]:
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
BEFORE_EXPIRY = re.compile(r"(.+?)\s+before\s+expiry")
DEFAULT_REMINDERS = ("50%", "1h before expiry")


def parse_reminder(text: str) -> str:
    """A moment in a request's life when its approvers are reminded: `50%` of its life, or `1h before expiry`."""
    share = SHARE_OF_LIFE.fullmatch(text.strip())
    if share:
        if not 1 <= int(share.group(1)) <= 99:
            raise ValueError(f"`{text}`: a share of the request's life is between 1% and 99%")
        return f"{int(share.group(1))}%"
    before = BEFORE_EXPIRY.fullmatch(text.strip())
    if before:
        return f"{before.group(1).strip()} before expiry" if parse_duration(before.group(1)) else text
    raise ValueError(f"`{text}` is not a moment of a request's life: write a share of it (`50%`) or a time "
                     "before it expires (`1h before expiry`)")


def reminder_at(moment: str, created_at: float, expires_at: float) -> float:
    """When a reminder written as `parse_reminder` accepts it falls for a request."""
    share = SHARE_OF_LIFE.fullmatch(moment)
    if share:
        return created_at + (expires_at - created_at) * int(share.group(1)) / 100
    before = BEFORE_EXPIRY.fullmatch(moment)
    return expires_at - parse_duration(before.group(1)) if before else expires_at


class AccessRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    expire_after_seconds: int = 24 * 3600
    # When approvers of a pending request are reminded, each at most once (see parse_reminder).
    reminders: tuple[str, ...] = DEFAULT_REMINDERS
    rules: list[Rule] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)

    def matching(self, organization: str, database: str, target: str | None, channel: str) -> Rule | None:
        for rule in self.rules:
            if rule.covers(organization, database, target) and rule.allows_channel(channel):
                return rule
        return None

    def covering(self, organization: str, database: str, target: str | None) -> list[Rule]:
        return [r for r in self.rules if r.covers(organization, database, target)]


def parse_rules(text: str, path: str = "access.toml") -> AccessRules:
    """Parse and validate; any problem is one AccessFileError naming the file, line and reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AccessFileError(f"{path}: {exc}") from None
    except RecursionError:
        raise AccessFileError(f"{path} line {_too_deep(text)}: arrays or tables nested too deeply to read; "
                              "the rules need at most two levels (a list of names in a rule).") from None
    rule_lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip().startswith("[[rules]]")]
    unknown = set(data) - {"approvals", "rules", "guardrails"}
    if unknown:
        raise AccessFileError(f"{path}: unknown table `{sorted(unknown)[0]}`: only [approvals], [[rules]] and "
                              "[[guardrails]].")
    approvals = data.get("approvals", {})
    if not isinstance(approvals, dict) or set(approvals) - {"expire_after", "remind"}:
        raise AccessFileError(f"{path} line {_line_of(text, '[approvals]')}: [approvals] takes only expire_after "
                              "and remind.")
    try:
        expire = parse_duration(str(approvals.get("expire_after", "24h")))
        if not EXPIRE_AFTER_MIN <= expire <= EXPIRE_AFTER_MAX:
            raise ValueError(f"`{approvals['expire_after']}` is out of range: a request waits for its approvals "
                             f"from {describe_duration(EXPIRE_AFTER_MIN)} to {describe_duration(EXPIRE_AFTER_MAX)}"
                             ", e.g. 24h")
    except ValueError as exc:
        raise AccessFileError(f"{path} line {_line_of(text, 'expire_after')}: expire_after: {exc}.") from None
    remind = approvals.get("remind", list(DEFAULT_REMINDERS))
    try:
        if not isinstance(remind, list):
            raise ValueError("write a list, e.g. remind = [\"50%\", \"1h before expiry\"], or [] for none")
        reminders = tuple(dict.fromkeys(parse_reminder(str(moment)) for moment in remind))
    except ValueError as exc:
        raise AccessFileError(f"{path} line {_line_of(text, 'remind')}: remind: {exc}.") from None
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list) or not raw_rules:
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


def _parse_guardrails(text: str, data: dict[str, Any], path: str) -> list[Guardrail]:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip().startswith("[[guardrails]]")]
    raw_guardrails = data.get("guardrails", [])
    if not isinstance(raw_guardrails, list):
        raise AccessFileError(f"{path} line {_line_of(text, 'guardrails')}: guardrails must be [[guardrails]] "
                              "tables.")
    guardrails = []
    for index, raw in enumerate(raw_guardrails):
        line = lines[index] if index < len(lines) else 0
        where = f"{path} line {line} (guardrail {index + 1})"
        guardrail = _table(Guardrail, raw, "guardrail", index, line, text, path)
        if not guardrail.binds_anything:
            raise AccessFileError(f"{where}: the guardrail bounds nothing: set min_retention, max_interval or "
                                  "allow_target_moves = false, or remove it.")
        guardrails.append(guardrail)
    return guardrails


TableModel = TypeVar("TableModel", Rule, Guardrail)


def _table(model: type[TableModel], raw: Any, kind: str, index: int, line: int, text: str,
           path: str) -> TableModel:
    """One [[rules]] or [[guardrails]] table as its model, or an AccessFileError naming the line of the key at
    fault, the table's number and the reason."""
    try:
        return model(**raw, number=index + 1, line=line)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else kind
        key_line = _line_of(text, key, start=line) or line
        message = str(error["msg"]).removeprefix("Value error, ")
        raise AccessFileError(f"{path} line {key_line} ({kind} {index + 1}): {key}: {message}.") from None
    except TypeError as exc:
        raise AccessFileError(f"{path} line {line} ({kind} {index + 1}): {exc}.") from None


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


def read_regular_file(path: str) -> bytes:
    """The bytes of a regular file (or of what a symbolic link points to); AccessFileError for anything else: a pipe
    would block the reader until something writes to it, and a device may never end."""
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise AccessFileError(f"{path} is not a regular file (a pipe or a device): point BACKUP_BOT_ACCESS_FILE "
                                  "at the rules file itself.")
        return handle.read()


# A new version of the access file is taken once it has stayed the same this long: written in place, a file is
# read half-written while its writer is at it (and half a file may parse, as rules that ask less). Two seconds,
# as some file systems keep modification times to the second.
SETTLE_SECONDS = 2.0

Stamp = tuple[int, int, int]  # the file's modification time (ns), size and inode


class AccessFile:
    """The rules of one file, read again when the file changes; a bad new version keeps the last good rules.

    A new version is read only once nothing has written to it for SETTLE_SECONDS (by its modification time, or,
    for a time this clock cannot trust, by how long this bot has seen it unchanged), and only if it is the
    same before and after the read. Until then, the last good rules apply and nothing is reported: a file
    being written is not a bad file."""

    def __init__(self, path: str, clock: Callable[[], float] | None = None):
        import time

        self.path = path
        self.clock = clock or time.time
        self._lock = threading.Lock()
        self._stamp, raw = self._read_whole()
        self._rules = decode_rules(raw, path)
        self.last_error: str | None = None
        self._seen: tuple[Stamp, float] | None = None  # a new version not yet taken, and when it was first seen

    def _stat(self) -> Stamp:
        info = os.stat(self.path)
        return info.st_mtime_ns, info.st_size, info.st_ino

    def _read_whole(self) -> tuple[Stamp, bytes]:
        """The file's bytes, unchanged while it was read (the writer's last write may land meanwhile)."""
        for _ in range(20):
            before = self._stat()
            raw = read_regular_file(self.path)
            if self._stat() == before:
                return before, raw
        raise AccessFileError(f"{self.path} kept changing while it was read; write it once, then start the bot.")

    def _settled(self, stamp: Stamp) -> bool:
        now = self.clock()
        if now - stamp[0] / 1e9 >= SETTLE_SECONDS:
            return True
        if self._seen is None or self._seen[0] != stamp:
            self._seen = (stamp, now)
        return now - self._seen[1] >= SETTLE_SECONDS

    @property
    def rules(self) -> AccessRules:
        try:
            stamp = self._stat()
        except OSError as exc:
            self._note(f"{self.path} cannot be read ({exc.strerror}); keeping the last good rules.")
            return self._rules
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp and self._settled(stamp):
                    self._reload(stamp)
        return self._rules

    def _reload(self, stamp: Stamp) -> None:
        try:
            raw = read_regular_file(self.path)
            if self._stat() != stamp:
                return  # written to while read: judged again at the next decision
            self._stamp = stamp
            self._rules = decode_rules(raw, self.path)
            self.last_error = None
            log.info("reloaded the access rules from %s", self.path)
        except (AccessFileError, OSError) as exc:
            self._note(f"{exc}; keeping the last good rules.")
        except Exception as exc:  # whatever else the file holds, the last good rules stay
            self._note(f"{self.path} could not be read ({type(exc).__name__}); keeping the last good rules.")

    def _note(self, message: str) -> None:
        if message != self.last_error:
            log.error("access rules not reloaded: %s", message)
        self.last_error = message


class StaticRules:
    def __init__(self, rules: AccessRules):
        self.rules = rules
        self.last_error: str | None = None


RulesSource = AccessFile | StaticRules


class DirectoryError(Exception):
    """Slack or PlanetScale could not tell who someone is; access is refused (fail closed)."""


@dataclass
class _Cached:
    value: _Memberships
    at: float


@dataclass(frozen=True)
class _Memberships:
    """One listing of the user groups, never changed once made: shared by every reader, not copied for each."""

    by_id: dict[str, tuple[str, frozenset[str]]]  # group ID: its handle, its members
    by_handle: dict[str, tuple[str, frozenset[str]]]  # `@handle`: the ID and members of the first group with it


DEFAULT_GROUP_CACHE_MAX_AGE = 3600


class GroupDirectory:
    """Slack user groups by ID and handle, with their members; cached for `ttl` seconds. While Slack fails to
    list them, the last memberships read are used for at most `max_age` seconds: someone removed from a
    group must not keep its rights for as long as Slack stays unreadable."""

    def __init__(self, list_groups: Callable[[], list[dict[str, Any]]], ttl: float = 60.0,
                 clock: Callable[[], float] | None = None, max_age: float = DEFAULT_GROUP_CACHE_MAX_AGE):
        import time

        self._list_groups = list_groups
        self._ttl = ttl
        self._max_age = max_age
        self._clock = clock or time.monotonic
        self._cache: _Cached | None = None
        self._lock = threading.Lock()

    @property
    def fresh(self) -> bool:
        """Whether the groups are known without asking Slack: listed less than `ttl` seconds ago."""
        cache = self._cache
        return cache is not None and self._clock() - cache.at <= self._ttl

    def _groups(self) -> _Memberships:
        cache = self._cache  # fresh: read without the lock (a help's ack asks four times)
        if cache is not None and self._clock() - cache.at <= self._ttl:
            return cache.value
        with self._lock:
            if self._cache is None or self._clock() - self._cache.at > self._ttl:
                try:
                    groups = self._list_groups()
                except Exception as exc:
                    if self._cache is None:
                        raise DirectoryError(f"Slack did not list the user groups ({exc})") from None
                    age = self._clock() - self._cache.at
                    if age > self._max_age:
                        read_at = datetime.now(UTC) - timedelta(seconds=age)
                        raise DirectoryError(
                            f"Slack's user groups could not be read since {read_at:%Y-%m-%d %H:%M} UTC ({exc}), "
                            f"and memberships older than {describe_duration(self._max_age)} are not trusted"
                        ) from None
                    # A Slack hiccup: the last known membership is still the best, for a while.
                    log.warning("usergroups.list failed (%s); using memberships from %.0f s ago", exc, age)
                    return self._cache.value
                by_id: dict[str, tuple[str, frozenset[str]]] = {}
                by_handle: dict[str, tuple[str, frozenset[str]]] = {}
                for group in groups:
                    members = frozenset(group.get("users") or [])
                    handle = group.get("handle", "")
                    by_id[group["id"]] = (handle, members)
                    by_handle.setdefault("@" + handle, (group["id"], members))
                self._cache = _Cached(_Memberships(by_id, by_handle), self._clock())
            return self._cache.value

    def members(self, principal: str) -> frozenset[str]:
        groups = self._groups()
        found = groups.by_handle.get(principal) if principal.startswith("@") else groups.by_id.get(principal)
        return found[1] if found else frozenset()

    def resolve(self, principal: str) -> str:
        """A group handle as its ID (which Slack can mention); anything else as it is."""
        if not principal.startswith("@"):
            return principal
        try:
            groups = self._groups()
        except DirectoryError:
            return principal
        found = groups.by_handle.get(principal)
        return found[0] if found else principal

    def is_named(self, user: str, principals: Iterable[str]) -> bool:
        for principal in principals:
            if principal == user:
                return True
            if (principal.startswith("@") or GROUP_ID.fullmatch(principal)) and user in self.members(principal):
                return True
        return False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: Rule | None = None
    approvals: int = 0
    reason: str = ""
    approvers: tuple[str, ...] = field(default_factory=tuple)
    approvals_from: tuple[tuple[str, int], ...] = ()


def describe_approvals(count: int, by_group: Iterable[tuple[str, int]] = ()) -> str:
    """`2 approvals`, or `1 approval from @dba-leads and 1 from @security`."""
    parts = [f"{n} from {group}" for group, n in by_group]
    if not parts:
        return f"{count} approval{'s' if count != 1 else ''}"
    first = parts[0].split(" ", 1)
    parts[0] = f"{first[0]} approval{'s' if first[0] != '1' else ''} {first[1]}"
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def mention(principal: str) -> str:
    if principal.startswith("@"):
        return principal
    if GROUP_ID.fullmatch(principal):
        return f"<!subteam^{principal}>"
    return f"<@{principal}>"


def mentions(principals: Iterable[str]) -> str:
    return ", ".join(mention(p) for p in principals) or "nobody"


RoleLookup = Callable[[str, str], str | None]  # (organization, slack user) -> PlanetScale role or None


class AccessControl:
    """The one question every door asks: may this user do this to this policy, here?"""

    def __init__(self, source: RulesSource, groups: GroupDirectory, planetscale_role: RoleLookup):
        self.source = source
        self.groups = groups
        self.planetscale_role = planetscale_role

    @property
    def rules(self) -> AccessRules:
        return self.source.rules

    def may_see_database(self, user: str, organization: str, database: str, channel: str) -> Decision:
        """Before anything is read from PlanetScale: does any rule for this database name the user here?"""
        here = [r for r in self.rules.covering(organization, database, None) if r.allows_channel(channel)]
        for rule in here:
            if self.groups.is_named(user, [*rule.editors, *rule.approvers]):
                return Decision(True, rule)
        return Decision(False, reason=self._nobody_names(user, organization, database, channel))

    def decide(self, user: str, action: Action, organization: str, database: str, targets: Iterable[str],
               channel: str) -> Decision:
        """Judge under the rule of every target involved (the current one and, for a move, the new one)."""
        decisions = [self._decide_one(user, action, organization, database, t, channel)
                     for t in dict.fromkeys(targets)]
        refused = [d for d in decisions if not d.allowed]
        if refused:
            return refused[0]
        # A move meets both rules: the most approvals either asks, and each group either asks.
        groups: dict[str, int] = {}
        for d in decisions:
            for group, count in d.approvals_from:
                groups[group] = max(groups.get(group, 0), count)
        strictest = max(decisions, key=lambda d: d.approvals)
        approvers = tuple(dict.fromkeys(a for d in decisions for a in d.approvers))
        return Decision(True, strictest.rule, max(strictest.approvals, sum(groups.values())), approvers=approvers,
                        approvals_from=tuple(groups.items()))

    def _decide_one(self, user: str, action: Action, organization: str, database: str, target: str,
                    channel: str) -> Decision:
        rule = self.rules.matching(organization, database, target, channel)
        where = f"{target} policies of {organization}/{database}"
        if rule is None:
            elsewhere = self.rules.covering(organization, database, target)
            if elsewhere:
                channels = sorted({c for r in elsewhere for c in r.channels})
                return Decision(False, reason=f"No rule allows {where} to be handled in this channel: use "
                                              f"{', '.join(f'<#{c}>' for c in channels)}.")
            return Decision(False, reason=f"No access rule covers {where}, so nobody may act on them: ask "
                                          f"whoever keeps the bot's access file to add one.")
        role_list = {Action.READ: [*rule.editors, *rule.approvers], Action.CHANGE: rule.editors,
                     Action.APPROVE: rule.approvers}[action]
        if not self.groups.is_named(user, role_list):
            verb = {Action.READ: "see", Action.CHANGE: "change", Action.APPROVE: "approve changes to"}[action]
            who = "editors" if action is Action.CHANGE else "approvers" if action is Action.APPROVE else \
                "editors or approvers"
            return Decision(False, rule, reason=f"You may not {verb} {where}: {rule.where} of the access file "
                                                f"lets only its {who} ({mentions(role_list)}) do that. Ask one "
                                                f"of them, or whoever keeps the access file.")
        if action is Action.CHANGE and rule.planetscale_role:
            refusal = self._check_role(user, organization, rule)
            if refusal:
                return Decision(False, rule, reason=refusal)
        change = action is Action.CHANGE
        return Decision(True, rule, rule.approvals if change else 0, approvers=tuple(rule.approvers),
                        approvals_from=rule.approvals_from if change else ())

    def _check_role(self, user: str, organization: str, rule: Rule) -> str | None:
        try:
            role = self.planetscale_role(organization, user)
        except DirectoryError as exc:
            return (f"{rule.where} requires a PlanetScale {rule.planetscale_role} of {organization}, and that "
                    f"could not be checked, so the change is refused: {exc}.")
        if role is None:
            return (f"{rule.where} requires a PlanetScale {rule.planetscale_role} of {organization}, and your "
                    f"Slack e-mail address is not a member of {organization} in PlanetScale.")
        if rule.planetscale_role == "admin" and role != "admin":
            return (f"{rule.where} requires a PlanetScale admin of {organization}; you are a {role}. Ask an "
                    f"admin of {organization} to make the change, or to approve it.")
        return None

    def _nobody_names(self, user: str, organization: str, database: str, channel: str) -> str:
        covering = self.rules.covering(organization, database, None)
        if not covering:
            return (f"No access rule covers {organization}/{database}, so nobody may see or change its policies "
                    "through this bot: ask whoever keeps the access file.")
        if not any(r.allows_channel(channel) for r in covering):
            channels = sorted({c for r in covering for c in r.channels})
            return f"Policies of {organization}/{database} are handled in {', '.join(f'<#{c}>' for c in channels)}."
        names = sorted({p for r in covering for p in [*r.editors, *r.approvers]})
        return (f"You are not named in the access rules for {organization}/{database}, so you may not see or "
                f"change its policies. The people who may: {mentions(names)}.")

    def capabilities(self, user: str, channel: str) -> list[Capability]:
        """What this user may do here, per rule that names them: for help, decided by the rules, not by words."""
        found = []
        for rule in self.rules.rules:
            if not rule.allows_channel(channel):
                continue
            may_change = self.groups.is_named(user, rule.editors)
            may_approve = self.groups.is_named(user, rule.approvers)
            if may_change or may_approve:
                found.append(Capability(rule, may_change, may_approve))
        return found


@dataclass(frozen=True)
class Capability:
    """One rule that names a user, and what it lets them do (everyone it names may see)."""

    rule: Rule
    may_change: bool
    may_approve: bool

    def describe(self) -> str:
        rule = self.rule
        scope = (f"{', '.join(rule.organizations)} / {', '.join(rule.databases)}"
                 f" ({', '.join(rule.targets) or 'all targets'})")
        can = []
        if self.may_change:
            can.append("change" + (f" (with {describe_approvals(rule.approvals, rule.approvals_from)})"
                                   if rule.approvals else ""))
        if self.may_approve:
            can.append("approve")
        return f"{scope}: see, {', '.join(can)}"

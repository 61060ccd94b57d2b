"""Rows to domain objects and back, the keys made of names from outside, and the audit log line."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from bot.domain.access_rules import EXPIRE_AFTER_MAX
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeKind, ChangeRequest, RequestState
from bot.domain.watch_state import Notice, NoticeKind

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Engine, Table

log = logging.getLogger("bot.audit")
store_log = logging.getLogger("bot.adapters.store")
_damaged_lock = threading.Lock()

# An index entry of PostgreSQL holds at most about 2,700 bytes: a longer key is kept as its hash.
LONGEST_KEY = 300
# A database's part of its keys kept as named up to this many bytes; past it, the hash of both names.
LONGEST_PREFIX_BYTES = 1000


def could_be_an_id(text: str) -> bool:
    """Whether `text` (a button's value) could be an ID this bot stored (36 characters at most, UTF-8): one that
    cannot is no row's, and is never sent, as neither database can take it as a parameter."""
    return len(text) <= 36 and not any(0xD800 <= ord(ch) <= 0xDFFF or ch == "\x00" for ch in text)


def database_prefix(organization: str, database: str) -> str:
    """What every key of a database begins with, and no key of another: `organization/database/` as named, so
    prefix searches by database find its keys; the SHA-256 of both names when they are long, hold a slash (the
    prefix would not say where one name ends) or a character the column stores escaped (a prefix search would
    not match it)."""
    named = f"{organization}/{database}"
    if (len(named.encode("utf-8", "surrogatepass")) <= LONGEST_PREFIX_BYTES and named.count("/") == 1
            and named.isprintable() and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in named)):
        return named + "/"
    both = json.dumps([organization, database]).encode("utf-8", "surrogatepass")
    return f"#sha256:{hashlib.sha256(both).hexdigest()}/"


def short_key(organization: str, database: str, rest: str) -> str:
    """A primary key made of names from outside: the database's prefix and `rest` (a policy ID, or the
    database's lease), past LONGEST_KEY characters the prefix and the SHA-256 of the whole."""
    key = database_prefix(organization, database) + rest
    if len(key) <= LONGEST_KEY:
        return key
    whole = f"{organization}/{database}/{rest}".encode("utf-8", "surrogatepass")
    return f"{database_prefix(organization, database)}#sha256:{hashlib.sha256(whole).hexdigest()}"


def lease_key(request: ChangeRequest) -> str:
    """The key of the lease a request takes: its policy's, or its database's."""
    rest = request.policy_key[len(f"{request.organization}/{request.database}/"):]
    return short_key(request.organization, request.database, rest)


def seen_key(organization: str, database: str, policy_id: str) -> str:
    return short_key(organization, database, policy_id)


def notice_of(row: Any, seen: set[str]) -> Notice | None:
    """A watch notice from its row (its JSON as the text stored or decoded), None (logged once, counted in
    `seen`) when damaged in the database."""
    try:
        return Notice(kind=NoticeKind(row["kind"]), organization=row["organization"], database=row["database"],
                      policy_id=row["policy_id"], policy_name=row["policy_name"], detail=row["detail"],
                      before=decoded(row["before"], (dict, None)), after=decoded(row["after"], (dict, None)),
                      fields=tuple(decoded(row["fields"], (list,))), id=row["id"], created_at=row["created_at"])
    except ValueError:  # Damaged, or a kind this version does not know
        damaged(seen, "watch notice", row["id"])
        return None


def columns(row: ChangeRequest | AuditEvent) -> dict[str, Any]:
    """A request's or an audit entry's fields as column values. Not `asdict`, which deep-copies every nested
    dict and list (a millisecond of each change's CPU); the values are only read, to be written."""
    return {f.name: getattr(row, f.name) for f in fields(row)}


# A request's JSON columns, each with what it holds (None: may be empty).
REQUEST_JSON: dict[str, tuple[type | None, ...]] = {
    "before": (dict,), "changes": (dict,), "approvers": (list,), "risks": (list,), "after": (dict, None),
    "approvals_from": (dict, None), "facts": (dict, None), "counted": (list, None)}

class Damaged(ValueError):
    """A row whose JSON does not decode."""


# No lease is taken for longer: a row held further ahead is damaged.
FARTHEST_LEASE_SECONDS = 24 * 3600.0
# No request or bulk change waits longer than the rules allow (a day's margin for clocks): one due later is damaged.
FARTHEST_EXPIRY_SECONDS = EXPIRE_AFTER_MAX + 24 * 3600.0


def damaged_until(until: ColumnElement[float], now: float | ColumnElement[float]) -> ColumnElement[bool]:
    """Whether a lease's `until` is damaged: text (SQLite compares it as above any number), NaN (PostgreSQL
    likewise), Infinity or a time no lease reaches. No comparison with the clock ever frees such a lease."""
    return until > now + FARTHEST_LEASE_SECONDS


NUMBER_DAMAGED = "a number that is not one (SQLite keeps any text in a number's column)"
LEASE_DAMAGED = "a lease time no lease reaches (text, NaN, Infinity, or more than a day ahead)"
TIME_DAMAGED = "a time no clock reaches (text, NaN, Infinity, or past any time the bot writes there)"


def by_age(row: Any) -> tuple[bool, float]:
    """A sort key, the oldest first, for a row whose creation time may be damaged (text on SQLite): such a row
    goes last rather than making the sort compare text with numbers and fail for every row."""
    created = row.created_at
    held = isinstance(created, int | float) and created == created
    return (not held, float(created) if held else 0.0)


UNKNOWN_ENUM = "a state ({!r}) or kind ({!r}) this version does not know (a newer version's, or damaged)"
NEWER_SKIPPED = "this version skips it wherever it reads it; the newer version's instances handle it"


SKIPPED = "it is skipped wherever it is read (restore the row from a backup, or close it by hand)"


def damaged(seen: set[str], kind: str, row_id: object, what: str = "JSON that does not decode",
            then: str = SKIPPED) -> None:
    """Logs a damaged row once, by its ID and what in it cannot be read, and counts it in `seen` (the store's);
    `then`: what becomes of it."""
    name = f"{kind} {row_id}"
    with _damaged_lock:
        new = name not in seen
        seen.add(name)
    if new:
        store_log.error("%s holds %s in the database; %s", name, what, then)


def decoded(value: Any, shapes: tuple[type | None, ...] = ()) -> Any:
    """A JSON column's value, read as the text stored (schema.as_stored) or decoded already; Damaged if it is
    not JSON, or not of one of `shapes` when they are given."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise Damaged from None
    if shapes and not any(value is None if shape is None else isinstance(value, shape) for shape in shapes):
        raise Damaged
    return value


def request_of(row: Any, seen: set[str]) -> ChangeRequest | None:
    """A request from its row, None (logged once, counted in `seen`) when a JSON column of it does not decode."""
    try:
        request = ChangeRequest(**{f.name: decoded(row[f.name], REQUEST_JSON[f.name]) if f.name in REQUEST_JSON
                                   else row[f.name] for f in fields(ChangeRequest)})
    except Damaged:
        damaged(seen, "change request", row["id"])
        return None
    try:
        request.state = RequestState(request.state)
        request.kind = ChangeKind(request.kind)
    except ValueError:  # A newer version's, sharing the database during a rolling deploy, or damaged
        damaged(seen, "change request", row["id"], UNKNOWN_ENUM.format(request.state, request.kind), NEWER_SKIPPED)
        return None
    return request


def requests_of(rows: Iterable[Any], seen: set[str]) -> list[ChangeRequest]:
    """The requests of these rows, those damaged left out (logged once, counted): one hides no other."""
    return [request for request in (request_of(row, seen) for row in rows) if request is not None]


AUDIT_JSON = ("before", "after", "sent")


def stored_json(value: Any, entry: object) -> Any:
    """A JSON field of an audit entry, read as the text stored: one damaged in the database (SQLite keeps any
    text; either keeps JSON that is not an object) is read as none, logged, and hides no other entry."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            log.warning("audit entry %s holds a JSON field that is not JSON; it is read as empty", entry)
            return None
    if value is not None and not isinstance(value, dict):
        log.warning("audit entry %s holds a JSON field that is not an object; it is read as empty", entry)
        return None
    return value


def event_of(row: Any) -> AuditEvent:
    """An entry from a row whose JSON fields are the text stored (store/audit.py `read_columns`) or decoded."""
    entry = row.get("seq") if hasattr(row, "get") else None
    return AuditEvent(**{f.name: stored_json(row[f.name], entry) if f.name in AUDIT_JSON else row[f.name]
                         for f in fields(AuditEvent)})


def log_event(values: dict[str, Any] | None) -> None:
    """An audit entry in the log as well, once it is committed."""
    if values is not None and log.isEnabledFor(logging.INFO):
        log.info("audit %s", values.get("action"), extra={"audit": values})


def approvers_by(reader: Engine, table: Table, key: str, ids: Sequence[str]) -> dict[str, list[str]]:
    """The approvers of each of `ids` (the rows of the approvals `table` whose `key` column holds it) in one query,
    in the order of approval: every ID is a key."""
    import sqlalchemy as sa

    found: dict[str, list[str]] = {owner: [] for owner in ids}
    if not found:
        return found
    column = table.c[key]
    with reader.connect() as conn:
        for owner, approver in conn.execute(
                sa.select(column, table.c.approver).where(column.in_(list(found))).order_by(table.c.at)):
            found[owner].append(approver)
    return found

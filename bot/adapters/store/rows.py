"""Rows to domain objects and back, the keys made of names from outside, and the audit log line."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import fields
from typing import Any

from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeKind, ChangeRequest, RequestState
from bot.domain.watch_state import Notice, NoticeKind

log = logging.getLogger("bot.audit")

# An index entry of PostgreSQL holds at most about 2,700 bytes: a longer key is kept as its hash.
LONGEST_KEY = 300
# A database's part of its keys kept as named up to this many bytes; past it, the hash of both names.
LONGEST_PREFIX_BYTES = 1000


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


def notice_of(row: Any) -> Notice:
    return Notice(kind=NoticeKind(row["kind"]), organization=row["organization"], database=row["database"],
                  policy_id=row["policy_id"], policy_name=row["policy_name"], detail=row["detail"],
                  before=row["before"], after=row["after"], fields=tuple(row["fields"] or ()), id=row["id"],
                  created_at=row["created_at"])


def columns(row: ChangeRequest | AuditEvent) -> dict[str, Any]:
    """A request's or an audit entry's fields as column values. Not `asdict`, which deep-copies every nested
    dict and list (a millisecond of each change's CPU); the values are only read, to be written."""
    return {f.name: getattr(row, f.name) for f in fields(row)}


def request_of(row: Any) -> ChangeRequest:
    request = ChangeRequest(**{f.name: row[f.name] for f in fields(ChangeRequest)})
    request.state = RequestState(request.state)
    request.kind = ChangeKind(request.kind)
    return request


AUDIT_JSON = ("before", "after", "sent")


def stored_json(value: Any, entry: object) -> Any:
    """A JSON field of an audit entry, read as the text stored: one damaged in the database (SQLite keeps any
    text) is read as none, logged, and hides no other entry."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        log.warning("audit entry %s holds a JSON field that is not JSON; it is read as empty", entry)
        return None


def event_of(row: Any) -> AuditEvent:
    """An entry from a row whose JSON fields are the text stored (store/audit.py `read_columns`) or decoded."""
    entry = row.get("seq") if hasattr(row, "get") else None
    return AuditEvent(**{f.name: stored_json(row[f.name], entry) if f.name in AUDIT_JSON else row[f.name]
                         for f in fields(AuditEvent)})


def log_event(values: dict[str, Any] | None) -> None:
    """An audit entry in the log as well, once it is committed."""
    if values is not None and log.isEnabledFor(logging.INFO):
        log.info("audit %s", values.get("action"), extra={"audit": values})

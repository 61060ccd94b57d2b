"""Rows to domain objects and back, the keys made of names from outside, and the audit log line."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import fields
from typing import Any

from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.watch_state import Notice, NoticeKind

log = logging.getLogger("bot.audit")

# An index entry of PostgreSQL holds at most about 2,700 bytes: a longer key is kept as its hash.
LONGEST_KEY = 300


def short_key(key: str) -> str:
    """A primary key made of names from outside: as it is, or past LONGEST_KEY characters its first part (up to
    the policy ID, so prefix searches by database still find it) and the SHA-256 of the whole."""
    if len(key) <= LONGEST_KEY:
        return key
    head = "/".join(key.split("/", 2)[:2])[:1000]
    return f"{head}/#sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def seen_key(organization: str, database: str, policy_id: str) -> str:
    return short_key(f"{organization}/{database}/{policy_id}")


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
    return request


def event_of(row: Any) -> AuditEvent:
    return AuditEvent(**{f.name: row[f.name] for f in fields(AuditEvent)})


def log_event(values: dict[str, Any] | None) -> None:
    """An audit entry in the log as well, once it is committed."""
    if values is not None and log.isEnabledFor(logging.INFO):
        log.info("audit %s", values.get("action"), extra={"audit": values})

"""The trail of who did what. Every attempt, success, refusal and failure is one `AuditEvent`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Unicode's control characters (category Cc): C0, DEL and C1; lone surrogates (PlanetScale's JSON may carry
# one, `"\ud800"`), which no UTF-8 file can hold; the bidi controls, which turn the rest of a row around in a
# terminal or an editor; and the line and paragraph separators, which some editors break a row at: each written
# as JSON writes it.
BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{BIDI}\u2028\u2029]")
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def iso_of(moment: float) -> str:
    """A clock's reading as an audit entry's time."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def moment_of(at: str) -> float:
    """An audit entry's time as a clock's reading."""
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class AuditEvent:
    action: str  # "applied", "dry_run", "rejected_input", "failed", "refused", …
    actor: str  # Slack user ID
    organization: str
    database: str
    policy_id: str | None = None
    policy_name: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None
    reason: str | None = None
    detail: str | None = None
    channel: str | None = None
    request_id: str | None = None
    # Empty: dated as it is recorded, by the store's clock (the database's, which every instance shares).
    at: str = ""


def targets_of(event: AuditEvent) -> set[str]:
    """Every target an entry touches: the policy's before, the one a change sent, the one it ended with."""
    return {str(part["target"]) for part in (event.before, event.sent, event.after) if part and "target" in part}


def csv_cell(value: Any) -> str:
    """One audit field as a CSV cell that stays text wherever it is opened. Reasons, names and PlanetScale's
    messages are free text: a cell a spreadsheet would run as a formula gets OWASP's leading `'`, and a
    control character (a terminal escape, say, recorded before the doors refused them) is written out as
    JSON writes it, `\\u001b`, and so are a lone surrogate, a bidi control and a line separator. Dictionaries
    (before, after, sent) are JSON."""
    if value is None:
        return ""
    return csv_text(json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value))


def csv_text(text: str) -> str:
    """`csv_cell` of a field already written as text."""
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

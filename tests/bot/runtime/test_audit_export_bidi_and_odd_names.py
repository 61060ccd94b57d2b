"""`audit export` of entries whose names PlanetScale gave (any character): as CSV, each entry is one row, no cell
is a formula, and no bidi control is written raw (in a terminal or an editor a U+202E turns the rest of the line
around, so that a row reads as another actor's or other values): each is written as JSON writes it, `\\u202e`, as a
control character is. As JSON lines, each name reads back as it was. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

from bot.adapters.schema import INSERT_EVENT
from bot.adapters.store import Store
from bot.runtime.audit_commands import FIELDS, csv_lines, json_lines

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
NAMES = [
    "Prod \u202eyliad\u202c U0MALLORY1",
    "\u202e=cmd|' /C calc'!A0",
    "=cmd|' /C calc'!A0",
    "a\x00b\nc\r\nd\u2028e",
    "x" * 255,
    "名前 é \u2067right\u2069 \u200fmark",
]


def entry(n: int, name: str) -> dict[str, object]:
    return {"at": f"2026-01-0{n + 1}T00:00:00Z", "action": "changed_outside", "actor": "backup-bot",
            "organization": "acme", "database": "app-db", "policy_id": f"bp{n}", "policy_name": name,
            "reason": None, "detail": f"renamed to {name}", "channel": None, "request_id": None,
            "before": {"name": "old"}, "after": {"name": name}, "sent": None}


def test_odd_names_are_exported_readable_one_row_each_with_no_bidi_control_raw(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, [entry(n, name) for n, name in enumerate(NAMES)])
    batches = list(store.event_batches(json_as_text=True))
    store.close()
    table = "".join(csv_lines(batch) for batch in batches)
    assert not [ch for ch in table if ch in BIDI], ascii(table)
    rows = list(csv.reader(io.StringIO(table)))
    assert len(rows) == len(NAMES)
    for row in rows:
        assert len(row) == len(FIELDS)
        assert not [cell for cell in row if cell.startswith(("=", "+", "-", "@", "\t", "\r"))], row
    named = [row[FIELDS.index("policy_name")] for row in rows]
    assert named[0] == "Prod \\u202eyliad\\u202c U0MALLORY1"
    assert named[2] == "'=cmd|' /C calc'!A0" and named[4] == "x" * 255
    lines = "".join(json_lines(batch) for batch in batches).splitlines()
    assert [json.loads(line)["policy_name"] for line in lines] == NAMES
    assert [json.loads(line)["after"]["name"] for line in lines] == NAMES

"""`backup-bot audit export` over a trail where one entry's JSON text was damaged in the database (SQLite keeps
whatever text a hand or a broken disk wrote; PostgreSQL's json type refuses it at the door): every entry is still
exported, the damaged field as the text stored, and stderr names the entry; never a traceback that ends the file
at the damaged entry."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from test_cli import run

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent

DAMAGED = '{"retention_value": 2'


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_entry_whose_json_is_damaged_is_exported_with_the_others(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "bot.db"
    url = f"sqlite:///{path}"
    store = Store(url)
    store.migrate()
    for action in ("requested", "approved", "applied"):
        store.record(AuditEvent(action=action, actor="U0ALICE001", organization="acme", database="app-db",
                                policy_id="bp01", before={"retention_value": 2}, sent={"retention_value": 30}))
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("update audit_events set before = ? where action = 'approved'", (DAMAGED,))
    done = run(["audit", "export", "--format", fmt], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert "Traceback" not in done.stderr, done.stderr
    if fmt == "jsonl":
        rows = [json.loads(line) for line in done.stdout.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["action"] for r in rows] == ["requested", "approved", "applied"], done.stdout
    assert rows[1]["before"] == DAMAGED
    assert "not JSON" in done.stderr and "approved" in done.stderr, done.stderr

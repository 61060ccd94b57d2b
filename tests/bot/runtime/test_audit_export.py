"""`backup-bot audit export` writes, byte for byte, what writing each entry on its own writes (the export before it
read in batches and remembered JSON texts), whatever the entries hold; a detail without the marks the domain
sets around a name (bot/domain/naming.py `outside`)."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.adapters.schema import INSERT_EVENT
from bot.adapters.store import Store
from bot.domain.audit import AuditEvent, csv_cell
from bot.domain.naming import unmarked
from bot.runtime.audit_commands import FIELDS, plain

ODD = ["", " ", ",", '"', '""', "\n", "\r\n", "\r", "\t", "\x00", "\x01", "\x1b[31m", "\x7f", "\x9b", "=", "+", "-",
       "@", "<", ">", "<@U0CAROL001>", "<!subteam^S0DBALEAD1|@dba-leads>", "<#C0DBAOPS01>", "é", "名前", "\u2028",
       "\ufffe", "\u2068", "\u2069", "\u2068<@U0CAROL001>\u2069", '"after": null', '", "sent": null, "x": "', "\\",
       "null", "{}", "'", "a"]


def odd_text(rng: random.Random) -> str:
    return "".join(rng.choice(ODD) for _ in range(rng.randint(0, 6)))


def odd_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind in (1, 2):
        return odd_text(rng)
    if kind == 3:
        return rng.choice([0, -1, 2.5, 1e-7, 10**20, True, False])
    if kind in (4, 5):
        return {"target": "production", "retention_value": rng.randint(1, 9)}
    if kind == 6:
        return [odd_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["before", "after", "sent", "name", odd_text(rng)]): odd_json(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def odd_entry(rng: random.Random, n: int) -> dict[str, Any]:
    def text() -> str | None:
        return None if rng.random() < 0.2 else odd_text(rng)

    def policy() -> Any:  # a dictionary (holding any JSON value) or none, some recurring
        return rng.choice([None, {"target": "production"}, {"value": odd_json(rng)}, {"n": n, "v": odd_json(rng)}])

    return {"at": f"2026-01-{1 + n % 28:02d}T00:00:00Z", "action": rng.choice(["applied", "=1+1", "refused"]),
            "actor": rng.choice(["U0ALICE001", "-U0BOB0001", "@here"]), "organization": odd_text(rng) or "acme",
            "database": odd_text(rng) or "app-db", "policy_id": text(), "policy_name": text(), "reason": text(),
            "detail": text(), "channel": rng.choice([None, "C0DBAOPS01", "+C0"]), "request_id": None,
            "before": policy(), "after": policy(), "sent": policy()}


def written_one_by_one(events: list[AuditEvent], fmt: str) -> str:
    """The export as it was written before, an entry at a time: the reference."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FIELDS)) if fmt == "csv" else None
    if writer:
        writer.writeheader()
    for event in events:
        row = {k: plain(unmarked(v) if k == "detail" and v else v) for k, v in asdict(event).items()}
        if writer:
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
        else:
            out.write(json.dumps(row, sort_keys=True) + "\n")
    return out.getvalue()


def test_the_export_writes_odd_entries_as_writing_each_alone_does(store_url: str, tmp_path: Path) -> None:
    store = Store(store_url)
    store.migrate()
    rng = random.Random(23)
    entries = [odd_entry(rng, n) for n in range(7000)]  # more than one batch
    with store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, entries)
    store.close()
    events = [AuditEvent(**entry) for entry in entries]  # as written, not as the store reads them back
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"audit.{fmt}"
        done = subprocess.run([sys.executable, "-m", "bot", "audit", "export", "--format", fmt, "-o", str(out)],
                              env={**base, "BACKUP_BOT_DATABASE_URL": store_url}, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        with open(out, encoding="utf-8", newline="", errors="surrogatepass") as exported:
            assert exported.read() == written_one_by_one(events, fmt)

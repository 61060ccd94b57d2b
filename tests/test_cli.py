"""The other processes of the contract: migrate, audit export and the emulator, run as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from processes import free_port

from bot.audit import AuditEvent
from bot.emulators.planetscale import DEMO_TOKEN, DEMO_TOKEN_ID
from bot.store import MIGRATIONS, Store


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def test_migrate_then_export_the_audit_trail_as_jsonl_and_csv(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    done = run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert done.returncode == 0 and f"schema version {MIGRATIONS[-1][0]}" in done.stdout
    store = Store(url)
    for action in ("requested", "approved", "applied"):
        store.record(AuditEvent(action=action, actor="U0ALICE001", organization="acme", database="app-db",
                                policy_id="bp01", policy_name='Prod, "daily"', before={"retention_value": 2},
                                sent={"retention_value": 30}))
    store.close()
    jsonl = run(["audit", "export", "--format", "jsonl"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["action"] for r in rows] == ["requested", "approved", "applied"]
    assert rows[0]["sent"] == {"retention_value": 30} and rows[0]["policy_name"] == 'Prod, "daily"'
    out = tmp_path / "audit.csv"
    assert run(["audit", "export", "--format", "csv", "-o", str(out)], tmp_path,
               BACKUP_BOT_DATABASE_URL=url).returncode == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["action"] for r in table] == ["requested", "approved", "applied"]
    assert json.loads(table[2]["before"]) == {"retention_value": 2} and table[2]["policy_name"] == 'Prod, "daily"'


def test_an_unusable_database_is_one_line(tmp_path: Path) -> None:
    done = run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert done.returncode == 2 and done.stderr.startswith("backup-bot: BACKUP_BOT_DATABASE_URL cannot be used")
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_emulator_serves_the_demo_organization_with_its_token(tmp_path: Path) -> None:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    process = subprocess.Popen([sys.executable, "-m", "bot", "emulator", "--port", str(port)], cwd=tmp_path,
                               env=base, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1/organizations/acme/databases/app-db/backup-policies"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"}, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        assert answer.status_code == 200 and len(answer.json()["data"]) == 3
        assert httpx.get(url, timeout=2).status_code == 401
    finally:
        process.terminate()
        banner = process.communicate(timeout=10)[0]
    assert f"PLANETSCALE_SERVICE_TOKEN_ID={DEMO_TOKEN_ID}" in banner

"""`audit export -o` naming the bot's own SQLite database (a slip of the hand or of tab completion:
`-o backup-bot.db` for `-o backup-bot.csv`), by its name, another spelling or a link to it, the budget file
beside it, the access rules or the .env file, is refused in one line and nothing of the file is touched. Before,
the file was opened for writing (emptied) before the trail was read: the whole database (requests, approvals, the
audit trail) was lost, and the export, of an empty trail, ended with status 0; the access rules and .env were
overwritten with the export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent


def run(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env={**base, "BACKUP_BOT_DATABASE_URL": url},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("named", ["bot.db", "./sub/../bot.db", "link-to-bot.db", "bot.db-budget", "access.toml",
                                   ".env"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_bots_own_database_is_never_an_exports_output(tmp_path: Path, named: str, fmt: str) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    for action in ("requested", "approved", "applied"):
        store.record(AuditEvent(action=action, actor="U0ALICE001", organization="acme", database="app-db"))
    store.close()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link-to-bot.db").symlink_to(tmp_path / "bot.db")
    (tmp_path / "bot.db-budget").write_bytes(b"the budget's own SQLite file")
    (tmp_path / "access.toml").write_text("# who may do what\n")
    (tmp_path / ".env").write_text("BACKUP_BOT_LOG_LEVEL=INFO\n")
    before = {name: (tmp_path / name).read_bytes() for name in ("bot.db", "bot.db-budget", "access.toml", ".env")}
    done = run(["audit", "export", "--format", fmt, "-o", named], tmp_path, url)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"--output {named} is the bot's own" in done.stderr and "name another file" in done.stderr, done.stderr
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    store = Store(url)
    assert [e.action for e in store.events()] == ["requested", "approved", "applied"]
    store.close()


def test_an_export_to_another_file_beside_the_database_is_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    store.record(AuditEvent(action="applied", actor="U0ALICE001", organization="acme", database="app-db"))
    store.close()
    done = run(["audit", "export", "-o", "bot.jsonl"], tmp_path, url)
    assert done.returncode == 0, done.stderr
    assert '"action": "applied"' in (tmp_path / "bot.jsonl").read_text()

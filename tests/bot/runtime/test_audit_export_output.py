"""`backup-bot audit export --output FILE` where the file cannot be written: its folder missing, a folder in its
place, or a disk that fills while it is written. Each is one line naming the file and the reason, exit status 2
(as for every other mistake of the command's), never a traceback; a full disk says the export is incomplete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_cli import run

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent


@pytest.mark.parametrize("where", ["missing-folder", "a-folder", "a-full-disk"])
def test_an_export_whose_file_cannot_be_written_says_so_in_one_line(tmp_path: Path, where: str) -> None:
    if where == "a-full-disk" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here to stand for a full disk")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    store.record(AuditEvent(action="applied", actor="U0ALICE001", organization="acme", database="app-db"))
    store.close()
    output = {"missing-folder": str(tmp_path / "nowhere" / "trail.csv"), "a-folder": str(tmp_path),
              "a-full-disk": "/dev/full"}[where]
    done = run(["audit", "export", "--format", "csv", "--output", output], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("backup-bot: ") and output in line, line
    if where == "a-full-disk":
        assert "incomplete" in line and "No space left on device" in line, line

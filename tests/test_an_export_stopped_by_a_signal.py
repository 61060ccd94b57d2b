"""`audit export -o FILE` stopped by SIGTERM (a supervisor, a timeout) or SIGINT (Ctrl-C) part-way says so on
stderr, with how many entries the file holds, ends with the signal's status (143, 130), and leaves the file of
whole lines, each entry whole. Before, SIGTERM killed it with a line cut in the middle left at the end of the file
and nothing said, and SIGINT ended it with status 130 and nothing said either."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.adapters.schema import INSERT_EVENT
from bot.adapters.store import Store

ENTRIES = 150_000


@pytest.mark.parametrize(("number", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_an_export_stopped_part_way_says_so_and_leaves_whole_lines(tmp_path: Path, number: int, status: int) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, [{"at": "2026-01-01T00:00:00Z", "action": "applied", "actor": "U0ALICE001",
                                     "organization": "acme", "database": "app-db", "reason": f"{n:06d}" + "r" * 300}
                                    for n in range(ENTRIES)])
    store.close()
    out = tmp_path / "trail.jsonl"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    process = subprocess.Popen([sys.executable, "-m", "bot", "audit", "export", "-o", str(out)], cwd=tmp_path,
                               env={**base, "BACKUP_BOT_DATABASE_URL": url}, stderr=subprocess.PIPE, text=True)
    while process.poll() is None and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.005)  # the first entries written: the export is under way
    assert process.poll() is None, "the export ended before it could be stopped"
    process.send_signal(number)
    _, err = process.communicate(timeout=60)
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert 0 < len(lines) < ENTRIES, "the export was not stopped part-way"
    assert process.returncode == status, err
    assert "Traceback" not in err, err
    assert text.endswith("\n"), f"a line cut at the end: {text[-80:]!r}"
    assert [json.loads(line)["reason"][:6] for line in lines] == [f"{n:06d}" for n in range(len(lines))]
    assert f"the export was stopped ({signal.Signals(number).name}) after {len(lines)} entries" in err, err
    assert "is incomplete" in err, err

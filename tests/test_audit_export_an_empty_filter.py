"""`audit export --actor "$WHO"` with WHO unset (or blank) exported every person's entries, and an empty --since or
--until exported from the start or to the end, as if the filter had not been given; `--db ''` and `prune --before
''` were already refused. Each is now refused with its fix, and nothing is exported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from processes import database_of_one_entry


@pytest.mark.parametrize(("option", "value"), [("--actor", ""), ("--actor", "  "), ("--since", ""), ("--until", " ")])
def test_an_empty_filter_is_refused_and_nothing_exported(tmp_path: Path, option: str, value: str) -> None:
    url = database_of_one_entry(tmp_path, "requested", "2026-01-10T00:00:00Z")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "audit", "export", option, value], cwd=tmp_path,
                          env={**env, "BACKUP_BOT_DATABASE_URL": url}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    assert done.stderr.startswith(f"backup-bot: {option} is empty: "), done.stderr
    assert "Traceback" not in done.stderr

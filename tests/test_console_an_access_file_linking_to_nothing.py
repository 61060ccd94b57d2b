"""`backup-bot console` takes the demo's access rules where there is no access file; an access file that is a link to
nothing (a mounted file not there yet, a loop) was taken for none, and the console went on under the demo's rules
(alice and bob editors) where the operator's rules were meant. It now stops with the one line `serve` gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_the_console_refuses_an_access_file_linking_to_nothing(tmp_path: Path, kind: str) -> None:
    rules = tmp_path / "access.toml"
    rules.symlink_to(tmp_path / "mounted" / "access.toml" if kind == "dangling" else rules)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "console"], input="/backup-policy list acme/app-db\n",
                          text=True, capture_output=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 2, done.stdout[-2000:]
    assert "demo access rules" not in done.stdout
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("backup-bot:")]
    assert line.startswith("backup-bot: BACKUP_BOT_ACCESS_FILE: access.toml"), line
    if kind == "dangling":
        assert "is a link to a file that does not exist" in line, line

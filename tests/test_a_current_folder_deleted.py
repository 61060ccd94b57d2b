"""A command run in a folder deleted since the shell (or cron, or a deploy's old release) entered it: `.env`,
`access.toml` and the default database are found from there. `migrate` ended in a FileNotFoundError traceback and
`audit export` said that writing standard output failed; each command now stops with one line saying so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["migrate"], ["audit", "export"], ["doctor"],
                                     ["audit", "prune", "--before", "1y"]])
def test_a_command_in_a_deleted_folder_says_so_in_one_line(tmp_path: Path, command: list[str]) -> None:
    gone = tmp_path / "release-41"
    gone.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    # The child enters the folder, which is then removed under it, as a deploy removes an old release.
    script = (f"import os, runpy, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
              f"sys.argv = ['backup-bot', *{command!r}]; runpy.run_module('bot', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.startswith("backup-bot: the current folder no longer exists"), done.stderr
    assert "cd to the bot's folder" in done.stderr

"""`backup-bot init DIR` where DIR cannot hold the files, or where a file cannot be written whole: one line naming
the file and the reason, exit status 2, no traceback; and no half-written starter left behind, which the next
`init` would keep as if it were the user's own ("kept … it exists")."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from test_cli import ROOT, run


def test_init_into_a_file_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "site").write_text("not a folder\n")
    for target in ("site", "site/deeper"):
        done = run(["init", target], tmp_path)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith("backup-bot: ") and "site" in line and "folder" in line, line


def test_init_that_cannot_write_a_file_whole_leaves_none_of_it_and_says_so(tmp_path: Path) -> None:
    def small_files() -> None:  # a file may not grow past 1000 bytes (as a full disk refuses the rest)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    base["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([sys.executable, "-m", "bot", "init", "site"], cwd=tmp_path, env=base, capture_output=True,
                          text=True, timeout=60, preexec_fn=small_files)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "access.toml" in done.stderr and "could not be written" in done.stderr, done.stderr
    assert not (tmp_path / "site" / "access.toml").exists(), "a half-written access.toml is left"
    again = run(["init", "site"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "site" / "access.toml").read_text() == (ROOT / "access.example.toml").read_text()

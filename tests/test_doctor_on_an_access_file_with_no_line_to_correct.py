"""`doctor` on an access file whose problem is no line of it (a pipe, a file with no rule): its fix said "correct
that line", where there is none; now the fix fits the problem. One with a line still names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def doctor(cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    env.update(BACKUP_BOT_DATABASE_URL=f"sqlite:///{cwd / 'bot.db'}", SLACK_BOT_TOKEN="xoxb-1",
               SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef", PLANETSCALE_SERVICE_TOKEN_ID="x",
               PLANETSCALE_SERVICE_TOKEN="y", PLANETSCALE_API_URL="http://127.0.0.1:9/v1",
               SLACK_API_URL="http://127.0.0.1:9/api/")
    done = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said[-2000:]
    return said.split("Access rules", 1)[1].split("\n\n", 1)[0][:600]


@pytest.mark.parametrize("kind", ["a pipe", "no rules", "a bad line"])
def test_the_fix_fits_the_access_files_problem(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "access.toml"
    if kind == "a pipe":
        os.mkfifo(path)
    else:
        path.write_text("# no rule yet\n" if kind == "no rules" else "[[rules]]\norganizations = [\"acme\"\nx = 1\n")
    access = doctor(tmp_path)
    assert "FAIL" in access, access
    assert ("correct that line" in access) == (kind == "a bad line"), access

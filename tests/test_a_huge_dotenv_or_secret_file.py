"""A .env or a secret file (SLACK_BOT_TOKEN_FILE…) pointed by mistake at a log or a dump: read whole, and parsed
six times over, it held `doctor` and `serve` for minutes with nothing said. It is refused in words, unread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.files import MOST_BYTES

LINES = 1_500_000  # "# c\n": 6 MB of comments, well over MOST_BYTES (a log's worth)


@pytest.mark.parametrize("which", [".env", "SLACK_BOT_TOKEN_FILE"])
def test_a_dotenv_or_secret_file_of_megabytes_is_refused_in_words_at_once(tmp_path: Path, which: str) -> None:
    huge = tmp_path / (".env" if which == ".env" else "token")
    huge.write_text("# c\n" * LINES)
    assert huge.stat().st_size > MOST_BYTES
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    if which != ".env":
        env[which] = str(huge)
    try:
        done = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`doctor` still reading {which} ({huge.stat().st_size} bytes) after 20 s")
    said = done.stdout + done.stderr
    assert "Traceback" not in said and done.returncode != 0, said[-2000:]
    told = ".env is over 1 MB" if which == ".env" else "SLACK_BOT_TOKEN_FILE cannot be read (it is over 1 MB"
    assert told in said and "far more than any settings or secret" in said, said[-2000:]

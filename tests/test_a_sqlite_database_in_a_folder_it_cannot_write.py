"""A SQLite database whose folder the bot may not write in (a volume mounted with the file alone writable, a
restore into a folder of another user's): WAL mode makes its -wal and -shm files there, so SQLite cannot open it.
`serve` (through its migration) said "check that the database exists and is reachable", and `doctor` "database
unreachable (OperationalError)… the database server is running": both now name the folder and the fix. SQLite
only: PostgreSQL has no folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.store import Store


@pytest.fixture
def locked_folder(tmp_path: Path) -> Iterator[Path]:
    """A migrated database in a folder no new file can be made in: read-only to its user, or immutable (chattr)
    where the tests run as root, whom permissions do not stop."""
    folder = tmp_path / "data"
    folder.mkdir()
    store = Store(f"sqlite:///{folder / 'bot.db'}")
    store.migrate()
    store.close()
    for made in ("bot.db-wal", "bot.db-shm"):  # SQLite removes them at its last clean close
        (folder / made).unlink(missing_ok=True)
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if not immutable:
            folder.chmod(0o755)
            pytest.skip("the folder stays writable here: running as root where chattr +i is not allowed")
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def run(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    env.update(BACKUP_BOT_DATABASE_URL=url, SLACK_BOT_TOKEN="xoxb-1", PLANETSCALE_SERVICE_TOKEN_ID="x",
               PLANETSCALE_SERVICE_TOKEN="y", SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef",
               PLANETSCALE_API_URL="http://127.0.0.1:9/v1", SLACK_API_URL="http://127.0.0.1:9/api/")
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_migrate_names_the_folder_it_cannot_write_in(locked_folder: Path, tmp_path: Path) -> None:
    done = run(["migrate"], tmp_path, f"sqlite:///{locked_folder / 'bot.db'}")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"its folder {locked_folder} is not writable" in done.stderr, done.stderr[-2000:]
    assert "let the bot's user write in that folder" in done.stderr


def test_doctor_names_the_folder_it_cannot_write_in(locked_folder: Path, tmp_path: Path) -> None:
    done = run(["doctor"], tmp_path, f"sqlite:///{locked_folder / 'bot.db'}")
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said[-2000:]
    assert f"its folder {locked_folder} is not writable" in said, said[-2000:]
    assert "database unreachable" not in said

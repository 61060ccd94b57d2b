"""A `.env` that is a symbolic link to nothing (a mounted secret not there yet, a link left by a move, a loop) was
taken for no `.env` at all: its settings were silently left at their defaults, so `migrate` (the Procfile's release
step) migrated a new `sqlite:///backup-bot.db` beside the bot and said it was done, where the file named a
PostgreSQL, and `doctor` told to set in `.env` what `.env` held. It is now refused with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.settings import Settings, SettingsError


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_dotenv_linking_to_nothing_is_refused(tmp_path: Path, kind: str) -> None:
    dotenv = tmp_path / ".env"
    if kind == "dangling":
        dotenv.symlink_to(tmp_path / "secrets" / "bot.env")
    else:
        dotenv.symlink_to(dotenv)
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={}, dotenv_path=str(dotenv))
    [line] = refused.value.problems
    assert line.startswith(f"{dotenv} is a link to nothing it can read"), line
    assert "point it at the settings file, or remove it" in line


def test_no_dotenv_at_all_is_the_defaults(tmp_path: Path) -> None:
    assert Settings.load(env={}, dotenv_path=str(tmp_path / ".env")).database_url == "sqlite:///backup-bot.db"


def test_migrate_does_not_make_a_sqlite_database_in_place_of_the_one_dotenv_names(tmp_path: Path) -> None:
    (tmp_path / ".env").symlink_to("/run/secrets/missing/bot.env")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "backup-bot: .env is a link to nothing it can read" in done.stderr, done.stderr
    assert not (tmp_path / "backup-bot.db").exists()

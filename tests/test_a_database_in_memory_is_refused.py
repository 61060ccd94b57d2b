"""A SQLite database in memory (`sqlite://`, `sqlite:///:memory:`, or `sqlite:///` from a path left empty, as in
`sqlite:///$DATA_FILE` with the variable unset) is one per connection: `serve` migrated the schema's thread's own
and started, and every request's work, on other threads and in the worker process, met "no such table", so each
command was acked and then nothing was done, for everyone; and a restart lost every request, approval and audit
entry. It is now refused at start with one line naming the setting and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, serve_env

from bot.emulators.serving import free_port
from bot.runtime.settings import Settings, SettingsError

IN_MEMORY = ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///file:bot?mode=memory&cache=shared&uri=true"]


@pytest.mark.parametrize("url", IN_MEMORY)
def test_a_database_in_memory_is_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={"BACKUP_BOT_DATABASE_URL": url}, dotenv_path=None)
    [line] = refused.value.problems
    assert line.startswith("BACKUP_BOT_DATABASE_URL is in memory"), line
    assert "sqlite:///path/to/file.db" in line


def test_a_database_file_is_taken() -> None:
    assert Settings.load(env={"BACKUP_BOT_DATABASE_URL": "sqlite:///bot.db"},
                         dotenv_path=None).database_url == "sqlite:///bot.db"


def test_serve_on_a_database_in_memory_stops_with_one_line(
    tmp_path: Path, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = serve_env(slack_server, planetscale_server, "sqlite://")
    done = subprocess.run([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                           str(free_port())], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("backup-bot:")]
    assert line.startswith("backup-bot: BACKUP_BOT_DATABASE_URL is in memory"), line

"""A SQLite database in memory (`sqlite://`, `sqlite:///:memory:`, or `sqlite:///` from a path left empty, as in
`sqlite:///$DATA_FILE` with the variable unset) is one per connection: `serve` migrated the schema thread's own and
then never became healthy, its inbox and leases on other threads (and its worker process) meeting "no such table"
every two seconds in the log; and a restart would lose every request, approval and audit entry. It is now refused
at start with one line naming the setting and the fix; and so is the setting given empty, which was taken for the
default, a new SQLite file beside the bot (a platform's ephemeral disk, one per instance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from processes import serve_refuses

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
    line = serve_refuses("sqlite://", slack_server, planetscale_server, tmp_path)
    assert line.startswith("backup-bot: BACKUP_BOT_DATABASE_URL is in memory"), line


@pytest.mark.parametrize("where", ["environment", "dotenv"])
def test_a_database_url_set_empty_is_refused_not_taken_for_the_default(tmp_path: Path, where: str) -> None:
    # `BACKUP_BOT_DATABASE_URL=${DATABASE_URL}` with DATABASE_URL unset (python-dotenv, docker compose) is empty: the
    # bot ran on a new sqlite:///backup-bot.db beside it, a platform's ephemeral disk, one per instance.
    dotenv = tmp_path / ".env"
    dotenv.write_text("BACKUP_BOT_DATABASE_URL=${NO_SUCH_VARIABLE_HERE}\n" if where == "dotenv" else "")
    env = {"BACKUP_BOT_DATABASE_URL": " "} if where == "environment" else {}
    with pytest.raises(SettingsError) as refused:
        Settings.load(env=env, dotenv_path=str(dotenv))
    [line] = refused.value.problems
    assert line.startswith("BACKUP_BOT_DATABASE_URL is empty"), line
    assert "leave it out for the default" in line

"""`backup-bot doctor` on a SQLite database that does not exist yet: a note only where `serve` can make it. Where
its folder is missing, or is a file, `serve` and `migrate` cannot open it: doctor says so, naming the folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_doctor import findings, healthy, run

from bot.adapters.store import Store
from bot.runtime.settings import Settings

__all__ = ["healthy"]  # fixtures, used by name


@pytest.mark.parametrize("folder", ["missing", "a-file"])
def test_a_database_whose_folder_cannot_hold_it_is_a_problem_naming_the_folder(
    healthy: Settings, tmp_path: Path, folder: str
) -> None:
    if folder == "a-file":
        (tmp_path / folder).write_text("not a folder")
    place = tmp_path / folder / "bot.db"
    url = f"sqlite:///{place}"
    with pytest.raises(Exception, match="unable to open database file"):  # what serve and migrate meet
        store = Store(url)
        try:
            store.migrate()
        finally:
            store.close()
    problems, out = run(replace(healthy, database_url=url))
    assert "does not exist yet" not in out, out
    assert problems == 1, out
    [(line, fix)] = findings(out).items()
    assert f"its folder {tmp_path / folder}" in line, line
    assert "BACKUP_BOT_DATABASE_URL" in fix, fix
    assert not place.exists()


@pytest.mark.parametrize("url", [
    "postgresql://127.0.0.1:{port}/db?user=bot&password=hunter2-secret",
    "postgresql://bot@127.0.0.1:{port}/db?password=hunter2-secret&sslmode=disable",
    "postgresql://bot:hunter2-secret@127.0.0.1:{port}/db",
], ids=["password-in-query", "password-after-options", "password-in-userinfo"])
def test_doctor_never_shows_the_database_password_however_the_url_gives_it(healthy: Settings, url: str) -> None:
    """libpq takes the password in the URL's query as well as before its `@`: doctor names the database it could
    not reach by its host, port and name alone."""
    from test_doctor import refused_port

    problems, out = run(replace(healthy, database_url=url.format(port=refused_port())))
    assert problems == 1, out
    [(line, _)] = findings(out).items()
    assert "database unreachable at 127.0.0.1:" in line, line
    assert "hunter2" not in out, out

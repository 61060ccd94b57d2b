"""A SQLite database URL naming a folder, a device (`/dev/null`) or a pipe: `migrate` said "cannot be used (unable
to open database file / disk I/O error): check that the database exists and is reachable", and `doctor` "database
unreachable (OperationalError)… the database server is running", or, for `/dev/null`, that it was reachable and
serve would make its schema. Each now names what the path is and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_a_sqlite_database_in_a_folder_it_cannot_write import run


@pytest.mark.parametrize("kind", ["a folder", "a device", "a pipe"])
@pytest.mark.parametrize("command", ["migrate", "doctor"])
def test_a_sqlite_path_that_is_no_regular_file_is_named_with_the_fix(tmp_path: Path, kind: str,
                                                                   command: str) -> None:
    path = {"a folder": str(tmp_path / "data"), "a device": "/dev/null", "a pipe": str(tmp_path / "pipe")}[kind]
    if kind == "a folder":
        os.mkdir(path)
    elif kind == "a pipe":
        os.mkfifo(path)
    done = run([command], tmp_path, f"sqlite:///{path}")
    said = done.stdout + done.stderr
    assert done.returncode == (2 if command == "migrate" else 1) and "Traceback" not in said, said[-2000:]
    named = "a folder" if kind == "a folder" else "not a regular file (a device or a pipe)"
    assert f"{path} is {named}, so the bot cannot keep its database there" in said, said[-2000:]
    assert "point BACKUP_BOT_DATABASE_URL at a database file" in said, said[-2000:]

"""BACKUP_BOT_DATABASE_URL pointed at a database another application already migrates with Alembic (a shared
application database): its `alembic_version` holds a revision such as 'ae1027a6acf', and `migrate`, `serve` and
`audit` said "cannot be used (invalid literal for int() with base 10: 'ae1027a6acf'): check that the database exists
and is reachable", `doctor` "database unreachable (ValueError)", though the database answered. Each names the
foreign revision and the fix, and nothing of the other application's is changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from test_cli import run

from bot.adapters.store import database_url

FOREIGN = "ae1027a6acf"


def foreign_database(url: str) -> None:
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{FOREIGN}')")
        conn.exec_driver_sql("CREATE TABLE their_users (id INTEGER PRIMARY KEY)")
    engine.dispose()


def untouched(url: str) -> bool:
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
            return versions == [FOREIGN] and sorted(sa.inspect(conn).get_table_names()) == [
                "alembic_version", "their_users"]
    finally:
        engine.dispose()


@pytest.mark.parametrize(("command", "status"), [(["migrate"], 2), (["audit", "export"], 2), (["doctor"], 1)],
                         ids=["migrate", "audit-export", "doctor"])
def test_a_database_with_another_applications_alembic_revision_is_named_so(
    tmp_path: Path, store_url: str, command: list[str], status: int
) -> None:
    foreign_database(store_url)
    done = run(command, tmp_path, BACKUP_BOT_DATABASE_URL=store_url)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    said = done.stdout + done.stderr
    told = [line for line in said.splitlines() if FOREIGN in line]
    assert len(told) == 1, said
    assert "another application" in told[0] and "a database of its own" in told[0], told[0]
    assert "unreachable" not in said and "invalid literal" not in said, said
    assert untouched(store_url)


@pytest.mark.parametrize(("command", "status"), [(["migrate"], 2), (["audit", "export"], 2), (["doctor"], 1)],
                         ids=["migrate", "audit-export", "doctor"])
def test_a_database_whose_alembic_table_holds_two_revisions_is_named_so(
    tmp_path: Path, store_url: str, command: list[str], status: int
) -> None:
    """A second row in the bot's own alembic_version (a hand, a half-restored dump) ended `migrate`, `serve` and
    `audit` in Alembic's traceback ("more than one head present; please use get_current_heads()"), and doctor said
    "database unreachable (CommandError)"."""
    assert run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL=store_url).returncode == 0
    engine = sa.create_engine(database_url(store_url))
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0020')")
    engine.dispose()
    done = run(command, tmp_path, BACKUP_BOT_DATABASE_URL=store_url)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    said = done.stdout + done.stderr
    told = [line for line in said.splitlines() if "alembic_version" in line and "revisions" in line]
    assert len(told) == 1 and "0020" in told[0] and "keeps one" in told[0], said
    assert "unreachable" not in said and "CommandError" not in said, said

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

FOREIGN = "ae1027a6acf"


def foreign_database(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{FOREIGN}')")
        conn.exec_driver_sql("CREATE TABLE their_users (id INTEGER PRIMARY KEY)")
    engine.dispose()


def untouched(url: str) -> bool:
    engine = sa.create_engine(url)
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

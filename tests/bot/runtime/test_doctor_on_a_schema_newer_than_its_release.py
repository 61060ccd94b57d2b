"""`backup-bot doctor` on a database a newer release migrated (a release rolled back without the newer one's
downgrade): it said `ok … schema version 9999` and found no problem, while serve, socket and migrate refuse that
database at once. Now doctor names it as the problem they stop on, with what to do."""

from __future__ import annotations

from dataclasses import replace

from test_doctor import findings, healthy, run

from bot.adapters import migrations
from bot.adapters.store import Store
from bot.runtime.settings import Settings

__all__ = ["healthy"]  # fixtures, used by name


def test_a_schema_newer_than_this_release_is_a_problem(healthy: Settings, store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    store.close()
    problems, out = run(replace(healthy, database_url=store_url))
    assert "ok" not in [line.split()[0] for line in out.splitlines() if "schema version 9999" in line], out
    assert problems == 1, out
    [(line, fix)] = [(line, fix) for line, fix in findings(out).items() if "9999" in line]
    assert f"newer than this release knows ({migrations.head()})" in line, line
    assert "Going back" in fix, fix

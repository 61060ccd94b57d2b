"""The schema's migrations (Alembic, bot/adapters/migrations/) on SQLite and PostgreSQL: every version since the
first reaches the newest with its data, the newest goes back and forth, a database the numbered runner before
Alembic migrated is taken over where it stood, and two instances starting at once migrate once."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.adapters import migrations
from bot.adapters.schema import change_batches, change_requests, deliveries, metadata, watch_backup_skips
from bot.adapters.shared_budget import budget_engine
from bot.adapters.store import Store
from bot.adapters.store.connection import database_url
from bot.domain.change_requests import RequestState

HEAD = migrations.head()
VERSIONS = range(1, HEAD + 1)

# The columns each step adds to a table an earlier step made (revision 0001 makes today's tables): a database at
# an older version lacks them, as one made by that version's release did.
ADDED = {
    2: [("change_requests", "lease_until")],
    4: [("change_requests", "approvals_from")],
    7: [("change_requests", "reason_by_person")],
    9: [("watch_notices", "claimed_by"), ("watch_notices", "claimed_until")],
    11: [("change_requests", "told")],
    12: [("change_requests", "kind"), ("change_requests", "facts")],
    15: [("change_requests", "target")],
    16: [("deliveries", c) for c in ("holder", "lease_until", "body", "handed_again")],
    17: [("change_requests", "left_by_older")],
    18: [("change_requests", "judge_at"), ("change_batches", "judge_at")],
    19: [("change_requests", "counted")],
    20: [("deliveries", "written")],
}


def at_version(url: str, version: int) -> Store:
    """A database as the release at `version` left it, with a request, its approval and an audit entry in it."""
    store = Store(url)
    with store.engine.begin() as conn:
        migrations.upgrade(conn, migrations.revision(version))
        for step, added in ADDED.items():
            if step > version:
                for table, column in added:
                    if not sa.inspect(conn).has_table(table):
                        continue  # made later, as it is today
                    for index in sa.inspect(conn).get_indexes(table):  # SQLite drops no indexed column
                        if column in index["column_names"]:
                            conn.exec_driver_sql(f"DROP INDEX {index['name']}")
                    conn.exec_driver_sql(f'ALTER TABLE {table} DROP COLUMN "{column}"')
        have = {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}
        row = {"id": "r-1", "state": "cancelled", "organization": "acme", "database": "app-db",
               "policy_id": "bp01", "policy_name": "P", "requester": "U0ALICE001", "channel": "C0DBAOPS01",
               "reason": "revert of r-0", "before": {"target": "production"}, "changes": {"retention_value": 5},
               "approvals_needed": 1, "approvers": [], "risks": [], "created_at": 1.0, "expires_at": 2.0,
               "updated_at": 1.0, "lease_until": 0.0, "reason_by_person": True, "told": False, "kind": "update"}
        conn.execute(change_requests.insert(), {k: v for k, v in row.items() if k in have})
        conn.exec_driver_sql("INSERT INTO approvals (request_id, approver, at) VALUES ('r-1', 'U0CAROL001', 1.5)")
        conn.exec_driver_sql("INSERT INTO audit_events (at, action, actor, organization, database, request_id) "
                             "VALUES ('2026-01-01T00:00:00Z', 'requested', 'U0ALICE001', 'acme', 'app-db', 'r-1')")
    return store


def assert_kept(store: Store) -> None:
    request = store.get_request("r-1")
    assert request is not None and request.state is RequestState.CANCELLED
    assert request.policy_id == "bp01" and request.changes == {"retention_value": 5}
    assert store.approvers_of("r-1") == ["U0CAROL001"]
    assert [(e.action, e.request_id) for e in store.all_events()] == [("requested", "r-1")]


def tables_and_columns(conn: sa.Connection) -> list[tuple[str, ...]]:
    """Where the migrated schema and `metadata` differ in a table or a column (empty when they agree)."""
    differences = compare_metadata(MigrationContext.configure(conn), metadata)
    return [(d[0], *[str(getattr(part, "name", part)) for part in d[1:3]]) for d in differences
            if isinstance(d, tuple) and d[0] in ("add_table", "remove_table", "add_column", "remove_column")
            and not (d[0] == "remove_table" and getattr(d[1], "name", "") in ("alembic_version", "schema_version"))]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_upgrades_to_the_newest_with_its_data_kept(store_url: str, version: int) -> None:
    store = at_version(store_url, version)
    assert store.version() == version
    if version < HEAD:
        assert store.healthy() == (False, f"schema at version {version}, needs {HEAD}: run `backup-bot migrate`")
    assert store.migrate() == HEAD
    assert store.version() == HEAD
    assert_kept(store)
    request = store.get_request("r-1")
    assert request is not None
    # A request closed before revision 0011 was told as it closed; one closed since keeps its own.
    assert request.told is (version < 11)
    assert request.reason_by_person is (version >= 7)  # the bot wrote "revert of …" before 0007 knew
    assert not request.left_by_older  # closed: only a request left applying is marked
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
        assert conn.scalar(sa.select(change_requests.c.target)) == ("production" if version < 15 else None)
    store.close()


def test_a_new_database_is_made_at_the_newest_version_as_the_tables_are_declared(store_url: str) -> None:
    store = Store(store_url)
    assert store.version() == 0
    assert store.migrate() == HEAD
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
        assert MigrationContext.configure(conn).get_current_revision() == migrations.revision(HEAD)
        assert not sa.inspect(conn).has_table("schema_version")
    store.close()


def test_the_newest_version_goes_back_and_forth_with_its_data_kept(store_url: str) -> None:
    store = at_version(store_url, HEAD)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(watch_backup_skips.insert().values(database_key="acme/app-db/", skipped="[]"))
        command.downgrade(migrations.config(conn), "-1")
    assert store.version() == HEAD - 1
    with store.engine.connect() as conn:  # the release before keeps them in memory
        assert not sa.inspect(conn).has_table("watch_backup_skips")
    assert store.migrate() == HEAD
    assert_kept(store)
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
    store.close()


def test_revision_0021_goes_back_and_forth_with_its_data_kept(store_url: str) -> None:
    store = at_version(store_url, HEAD)
    store.migrate()
    batch = {"organization": "acme", "requester": "U0ALICE001", "channel": "C0RANDOM01", "plan": {},
             "created_at": 1.0, "expires_at": 9e9}
    with store.engine.begin() as conn:
        conn.execute(change_batches.insert(), [{**batch, "id": "b-1", "state": "refused"},
                                               {**batch, "id": "b-2", "state": "pending", "judge_at": None}])
        command.downgrade(migrations.config(conn), "0020")
    assert store.version() == 20
    with store.engine.connect() as conn:  # a state the release before cannot read: closed as expired, as it was
        assert conn.execute(sa.select(change_batches.c.state).order_by(change_batches.c.id)).scalars().all() == [
            "expired", "pending"]
    assert store.migrate() == HEAD
    with store.engine.connect() as conn:  # a pending bulk change without a turn takes one at once, approved or not
        assert conn.execute(sa.select(change_batches.c.judge_at).where(change_batches.c.id == "b-2")).scalar_one() \
            == 0.0
    assert_kept(store)
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
    store.close()


def test_revision_0020_goes_back_and_forth_with_its_data_kept(store_url: str) -> None:
    store = at_version(store_url, HEAD)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(deliveries.insert().values(key="k1", at=1.0, holder="h:1", lease_until=7.0, body="{}",
                                                written="0123456789abcdef"))
        command.downgrade(migrations.config(conn), "0019")
    assert store.version() == 19
    with store.engine.begin() as conn:  # the token goes; the row stays, for the release before to redo
        assert "written" not in {c["name"] for c in sa.inspect(conn).get_columns("deliveries")}
        assert conn.execute(sa.select(deliveries.c.key, deliveries.c.body)).all() == [("k1", "{}")]
    assert store.migrate() == HEAD
    assert_kept(store)
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
    store.close()


def test_revision_0019_goes_back_and_forth_with_its_data_kept(store_url: str) -> None:
    store = at_version(store_url, HEAD)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(change_requests.update().values(counted=["U0CAROL001"]))
        command.downgrade(migrations.config(conn), "0018")
    assert store.version() == 18
    with store.engine.begin() as conn:  # what the judge counted goes; the approvals stay
        assert "counted" not in {c["name"] for c in sa.inspect(conn).get_columns("change_requests")}
    assert store.migrate() == HEAD
    request = store.get_request("r-1")
    assert request is not None and request.counted is None  # shown with every approval, as the release before did
    assert_kept(store)
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
    store.close()


def test_revision_0018_goes_back_and_forth_with_its_data_kept(store_url: str) -> None:
    store = at_version(store_url, HEAD)
    store.migrate()
    with store.engine.begin() as conn:
        command.downgrade(migrations.config(conn), "0017")
    assert store.version() == 17
    with store.engine.begin() as conn:  # the turns go; a request with an approval the release before leaves stays
        for table in ("change_requests", "change_batches"):
            assert "judge_at" not in {c["name"] for c in sa.inspect(conn).get_columns(table)}
        conn.execute(change_requests.update().values(state="pending"))
    assert store.migrate() == HEAD
    with store.engine.connect() as conn:  # the upgrade makes a pending request with an approval due at once
        assert conn.execute(sa.select(change_requests.c.judge_at)).scalar_one() == 0.0
    with store.engine.begin() as conn:
        conn.execute(change_requests.update().values(state="cancelled"))
    assert_kept(store)
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
    store.close()


def test_an_older_version_says_how_to_go_back(store_url: str) -> None:
    store = at_version(store_url, 16)  # revision 0016 cannot be undone (0017 onwards can)
    with store.engine.begin() as conn, pytest.raises(NotImplementedError, match="restore the backup"):
        command.downgrade(migrations.config(conn), "-1")
    assert store.version() == 16
    store.close()


def numbered_runner_left(store: Store, version: int) -> None:
    """The bookkeeping the numbered runner before Alembic kept, in place of Alembic's."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.exec_driver_sql("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, "
                             "applied_at FLOAT NOT NULL)")
        for step in range(1, version + 1):
            conn.exec_driver_sql(f"INSERT INTO schema_version VALUES ({step}, 'step {step}', {step}.0)")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_database_the_numbered_runner_migrated_is_taken_over_where_it_stood(
        store_url: str, version: int, caplog: pytest.LogCaptureFixture) -> None:
    store = at_version(store_url, version)
    numbered_runner_left(store, version)
    assert store.version() == version
    caplog.set_level(logging.INFO, logger="alembic")
    caplog.clear()  # the steps that built it are logged too where an earlier test left alembic's logger at INFO
    assert store.migrate() == HEAD
    ran = [r.getMessage().split(",")[0] for r in caplog.records if r.getMessage().startswith("Running upgrade")]
    assert ran == [f"Running upgrade {migrations.revision(v - 1)} -> {migrations.revision(v)}"
                   for v in range(version + 1, HEAD + 1)]  # only the steps after the one it stood at
    assert store.version() == HEAD
    assert_kept(store)
    request = store.get_request("r-1")
    assert request is not None and request.told is (version < 11)
    with store.engine.connect() as conn:
        assert tables_and_columns(conn) == []
        # Left as it was, for the release before this one should it be rolled back to.
        assert conn.exec_driver_sql("SELECT max(version) FROM schema_version").scalar() == version
    store.migrate()  # and from then on, Alembic's record alone
    assert store.version() == HEAD
    store.close()


MIGRATE = """
import os, sys, time, logging
logging.basicConfig(level=logging.INFO, format="%(message)s")
from bot.adapters.store import Store
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
print(Store(sys.argv[1]).migrate())
"""


def test_two_instances_starting_at_once_migrate_once(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    starting = [subprocess.Popen([sys.executable, "-c", MIGRATE, store_url, str(go)], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    time.sleep(1)  # both past their imports, waiting for the same moment; not a bound on anything
    go.touch()
    done = [p.communicate(timeout=120) for p in starting]
    assert [p.returncode for p in starting] == [0, 0], [err for _, err in done]
    assert [out.strip() for out, _ in done] == [str(HEAD), str(HEAD)]
    ran = [line for _, err in done for line in err.splitlines() if line.startswith("Running upgrade")]
    assert len(ran) == HEAD  # each step once, in one of the two
    store = Store(store_url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [(migrations.revision(HEAD),)]
    store.close()


def migrated(path: Path) -> object:
    store = Store(f"sqlite:///{path}")
    try:
        store.migrate()
        return store.version()
    finally:
        store.close()


def budget_opened(path: Path) -> object:
    engine = budget_engine(str(path))
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        engine.dispose()


@pytest.mark.parametrize(("opened", "expected"), [(migrated, HEAD), (budget_opened, "wal")],
                         ids=["database", "budget file"])
def test_a_new_sqlite_file_another_process_is_writing_is_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: Callable[[Path], object], expected: object) -> None:
    """SQLite answers a switch to WAL "database is locked" at once, without its busy handler, while another
    connection writes a new file in its first (rollback) journal mode: two instances starting at once on a new
    file met it. The store and the shared budget try again until the writer is done."""
    path = tmp_path / "bot.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE other_process (x)")
    tried, moved = threading.Event(), threading.Event()  # moved: tried again, or done
    real_sleep = time.sleep
    outcome: list[object] = []

    def sleep(seconds: float) -> None:
        if threading.current_thread() is opening:
            tried.set()
            moved.set()
        real_sleep(seconds)

    def open_it() -> None:
        try:
            outcome.append(opened(path))
        except Exception as exc:  # the test reports it
            outcome.append(exc)
        moved.set()

    monkeypatch.setattr(time, "sleep", sleep)
    opening = threading.Thread(target=open_it)
    opening.start()
    try:
        moved.wait(timeout=60)
        assert tried.is_set(), outcome  # refused once, and trying again, not failed
    finally:
        other.execute("COMMIT")
        other.close()
        opening.join(timeout=120)
    assert outcome == [expected]


def test_a_schema_found_current_is_checked_without_waiting_for_a_writer(store_url: str) -> None:
    """The check `serve` runs beside its first acks: a writer holding the database (on SQLite the lock the
    inbox's write takes, on PostgreSQL the migrations' own lock) does not hold a check that has nothing to do."""
    import threading

    Store(store_url).migrate()
    writer = sa.create_engine(database_url(store_url)).connect()
    if writer.dialect.name == "sqlite":
        writer.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        writer.exec_driver_sql("SELECT pg_advisory_lock(4242001)")
    checked: list[int] = []
    store = Store(store_url)
    check = threading.Thread(target=lambda: checked.append(store.migrate()), daemon=True)
    try:
        check.start()
        check.join(timeout=20)  # the writer holds on till the end: generous for a loaded machine, under SQLite's 30 s
        assert checked == [HEAD], "the check of a current schema waited for the writer"
    finally:
        writer.rollback() if writer.dialect.name == "sqlite" else writer.exec_driver_sql(
            "SELECT pg_advisory_unlock(4242001)")
        writer.close()
        check.join(timeout=60)
        store.close()

"""The database answers reads but refuses every write: a SQLite file on a volume mounted read-only, a PostgreSQL
URL that reaches a standby or a read-only database. `backup-bot audit prune` ended in a traceback of SQLAlchemy's
(its SQL and all), and `doctor` said the database was in order while serve's /healthz says it refuses writes.
Each is one line naming the database's refusal and the fix; prune deletes nothing and exits 2, doctor counts a
problem and exits 1. An export whose reads fail says in one line that it is incomplete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import fresh_postgres
from test_cli import run

from bot.adapters.store import Store, database_url
from bot.domain.audit import AuditEvent

OLD = "2020-01-01T00:00:00Z"


def read_only_database(url: str) -> Iterator[str]:
    """`url`'s database, with one old audit entry, as a URL that reads it and is refused every write."""
    store = Store(url)
    store.migrate()
    store.record(AuditEvent(action="requested", actor="U0ALICE001", organization="acme", database="app-db",
                            policy_id="bp01"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE audit_events SET at = '{OLD}'")
    store.close()
    if url.startswith("sqlite"):  # SQLite itself opens the file read-only, as on a read-only volume
        yield f"sqlite:///file:{url.split('///', 1)[1]}?mode=ro&uri=true"
        return
    name = sa.engine.make_url(url).database
    engine = sa.create_engine(database_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        yield url
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET default_transaction_read_only = off")
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def refusing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(the read-only URL, the URL that writes)."""
    url = f"sqlite:///{tmp_path / 'bot.db'}" if request.param == "sqlite" else fresh_postgres()
    for read_only in read_only_database(url):
        yield read_only, url


def audit_entries(url: str) -> int:
    store = Store(url)
    try:
        return sum(len(batch) for batch in store.event_batches())
    finally:
        store.close()


def test_audit_prune_on_a_database_that_refuses_writes_says_so_in_one_line(
    tmp_path: Path, refusing: tuple[str, str]
) -> None:
    read_only, url = refusing
    done = run(["audit", "prune", "--before", "1d"], tmp_path, BACKUP_BOT_DATABASE_URL=read_only)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    told = done.stderr.strip().splitlines()
    assert len(told) == 1, done.stderr
    assert "refuses writes" in told[0] and "nothing was deleted" in told[0], told[0]
    assert "read-only" in told[0].lower() or "readonly" in told[0].lower(), told[0]
    assert "SQL:" not in done.stderr
    assert done.stdout == ""
    assert audit_entries(url) == 1


def test_doctor_counts_a_database_that_refuses_writes_as_a_problem(
    tmp_path: Path, refusing: tuple[str, str]
) -> None:
    read_only, _ = refusing
    done = run(["doctor"], tmp_path, BACKUP_BOT_DATABASE_URL=read_only)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    section = done.stdout.split("\nDatabase\n", 1)[1].split("\nResult\n", 1)[0]
    failed = [line for line in section.splitlines() if line.strip().startswith("FAIL")]
    assert len(failed) == 1 and "refuses writes" in failed[0], section
    assert "schema version" not in section.split("FAIL", 1)[0], section  # never first said to be in order


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_audit_export_whose_reads_fail_says_the_export_is_incomplete(
    tmp_path: Path, store_url: str, fmt: str
) -> None:
    """A read of the trail that fails (here its table renamed by a hand, as a damaged or half-restored database has
    it) ended in a traceback, the SQL and all, after the file's header: now one line says the export is incomplete."""
    store = Store(store_url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_kept")
    store.close()
    out = tmp_path / f"audit.{fmt}"
    done = run(["audit", "export", "--format", fmt, "-o", str(out)], tmp_path, BACKUP_BOT_DATABASE_URL=store_url)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    told = done.stderr.strip().splitlines()
    assert len(told) == 1 and "the export is incomplete" in told[0] and "audit_events" in told[0], done.stderr


def test_doctor_does_not_wait_for_another_processs_write_on_sqlite(tmp_path: Path) -> None:
    """doctor's look at whether writes are taken must not wait for SQLite's one writer (serve's, a long
    `audit prune`, an operator's shell): with the lock held elsewhere it says the database is in order, within
    a bound well below SQLite's busy wait of SQLITE_BUSY_SECONDS (30 s), which a first version of it waited out."""
    import os
    import sqlite3
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'bot.db'}"
    Store(url).migrate()
    holder = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
        done = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, capture_output=True, text=True,
                              env={**env, "BACKUP_BOT_DATABASE_URL": url}, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("doctor waited for another process's write lock")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    section = done.stdout.split("\nDatabase\n", 1)[1].split("\nResult\n", 1)[0]
    assert "FAIL" not in section and "schema version" in section, section

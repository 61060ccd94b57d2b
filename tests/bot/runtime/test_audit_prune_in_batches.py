"""`backup-bot audit prune` of a long trail deletes a batch at a time, each batch its own transaction. Before, it
deleted in one transaction: on PostgreSQL the statement timeout cut a long trail's prune off every time, so it
could never be pruned, and on SQLite it held the write lock throughout, the running bot's writes waiting for it.
Now the bot's writes go between two batches, a request opened meanwhile keeps its entries, and a prune stopped by
a signal or by the database failing keeps the batches done and says how many entries it deleted."""

from __future__ import annotations

import io
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store, database_url
from bot.adapters.store import audit as trail
from bot.adapters.store.inbox import Inbox
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.runtime import audit_commands, database

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD, NEW = "2024-01-01T00:00:{:02d}Z", "2026-05-31T00:00:00Z"
BATCH = 4


def a_request(store: Store) -> str:
    return store.add_request(ChangeRequest(
        organization="acme", database="app-db", policy_id="bp01", policy_name="Production daily",
        requester="U0ALICE001", channel="C0DBAOPS01", before={"target": "production"},
        changes={"retention_value": 9}, approvals_needed=1, approvers=["@dba-leads"], expires_at=0.0)).id


def a_trail(url: str, old: int, reasons: dict[int, str] | None = None) -> dict[str, str]:
    """`old` entries written before the cutoff, numbered from 0 in order of time (0, 3, 6, 9... of an ended
    request, 7 and 8 of an open one; entry n's reason is `reasons[n]` or its number), and one newer entry."""
    store = Store(url)
    store.migrate()
    requests = {"open": a_request(store), "ended": a_request(store)}
    store.transition(requests["ended"], [RequestState.PENDING], RequestState.APPLIED)
    for n in range(old):
        request = requests["open"] if n in (7, 8) else requests["ended"] if n % 3 == 0 else None
        store.record(AuditEvent(action="requested", actor="U0ALICE001", organization="acme", database="app-db",
                                request_id=request, at=OLD.format(n), reason=(reasons or {}).get(n, str(n))))
    store.record(AuditEvent(action="applied", actor="U0ALICE001", organization="acme", database="app-db", at=NEW,
                            reason="new"))
    store.close()
    return requests


def reasons_left(url: str) -> list[str]:
    store = Store(url)
    try:
        return [e.reason or "" for e in store.events() if e.actor != "backup-bot"]
    finally:
        store.close()


@pytest.fixture
def pruning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Callable[[Store], None]]:
    """The command run here, BATCH entries a batch; each hook given is applied to the store it opens."""
    hooks: list[Callable[[Store], None]] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(trail, "PRUNE_BATCH", BATCH, raising=False)
    real = database.open_store

    def open_store(url: str) -> Store:
        store = real(url)
        for hook in hooks:
            hook(store)
        return store

    monkeypatch.setattr(database, "open_store", open_store)
    return hooks


def prune(url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("BACKUP_BOT_DATABASE_URL", url)
    out = io.StringIO()
    status = audit_commands.main("prune", {"before": "400d"}, now=NOW, out=out)
    return status, out.getvalue()


def counting_commits(hooks: list[Callable[[Store], None]]) -> list[int]:
    """The commits of the store the command opens, from its opening on."""
    commits: list[int] = []
    hooks.append(lambda store: sa.event.listen(store.engine, "commit", lambda conn: commits.append(1)))
    return commits


def test_a_prune_commits_a_batch_at_a_time_and_counts_what_it_deleted_and_kept(
    store_url: str, pruning: list[Callable[[Store], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = 10
    a_trail(store_url, old)
    commits = counting_commits(pruning)
    status, said = prune(store_url, monkeypatch)
    assert status == 0, said
    assert len(commits) == math.ceil(old / BATCH), "one transaction a batch"
    lines = said.splitlines()
    assert lines[0] == "Deleted 8 audit entries older than 2025-04-27T00:00:00Z.", said
    assert lines[1].startswith("Kept 2 older entries of requests still open"), said
    assert reasons_left(store_url) == ["7", "8", "new"]


def test_the_bots_writes_go_between_two_batches_and_a_request_opened_meanwhile_keeps_its_entries(
    store_url: str, pruning: list[Callable[[Store], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the first batch is committed, another store on the same database (the running bot) writes an inbox
    row and an audit entry, and an ended request whose entries the prune has not reached yet is open again."""
    old = 10
    requests = a_trail(store_url, old)
    commits = counting_commits(pruning)
    bot = Store(store_url)
    written: list[int] = []

    def between(dbapi_connection: Any, record: Any) -> None:  # the prune's connection back in its pool
        if commits and not written:
            written.append(len(commits))
            assert Inbox(lambda: bot.engine, "bot:1").take("ack-1", "{}")
            bot.record(AuditEvent(action="requested", actor="U0BOB00001", organization="acme", database="app-db",
                                  at=NEW, reason="written meanwhile"))
            assert bot.transition(requests["ended"], [RequestState.APPLIED], RequestState.APPROVED)

    pruning.append(lambda store: sa.event.listen(store.engine, "checkin", between))
    try:
        status, said = prune(store_url, monkeypatch)
    finally:
        bot.close()
    assert written == [1] and len(commits) > 1, "the bot's writes waited for the prune's end"
    assert len(commits) == math.ceil(old / BATCH), "one transaction a batch"
    assert status == 0, said
    # Entries 0 and 3 went with the first batch; 6 and 9, of the request open again, are kept as 7 and 8 are.
    assert reasons_left(store_url) == ["6", "7", "8", "9", "new", "written meanwhile"]
    lines = said.splitlines()
    assert lines[0] == "Deleted 6 audit entries older than 2025-04-27T00:00:00Z.", said
    assert lines[1].startswith("Kept 4 older entries of requests still open"), said


def test_a_prune_stopped_by_a_signal_between_batches_says_how_many_it_deleted(
    store_url: str, pruning: list[Callable[[Store], None]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM (a supervisor, a timeout) arrives during the first batch: the prune stops after it, what it deleted
    stays deleted, and it says so. The test catches the signal itself should the prune not take it."""
    status, said, err, commits = pruned_with_sigterm(store_url, pruning, monkeypatch, capsys, lambda n: n < 2)
    assert status == 128 + signal.SIGTERM, (said, err)
    assert said == ""
    assert err.strip() == ("backup-bot: the prune was stopped (SIGTERM) after deleting 4 audit entries older than "
                           "2025-04-27T00:00:00Z, which stay deleted; the rest are still there: prune again to "
                           "delete them."), err
    assert len(commits) == 1
    assert reasons_left(store_url)[:3] == ["4", "5", "6"]


def test_a_signal_during_the_last_batch_lets_the_prune_end_whole(
    store_url: str, pruning: list[Callable[[Store], None]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is left to stop once the last batch is committed: the prune ends as done, not said to be stopped."""
    status, said, err, _ = pruned_with_sigterm(store_url, pruning, monkeypatch, capsys, lambda n: n == 3)
    assert (status, err) == (0, ""), said
    assert said.splitlines()[0] == "Deleted 8 audit entries older than 2025-04-27T00:00:00Z.", said
    assert reasons_left(store_url) == ["7", "8", "new"]


def pruned_with_sigterm(store_url: str, pruning: list[Callable[[Store], None]], monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str], at_commit: Callable[[int], bool]
                        ) -> tuple[int, str, str, list[int]]:
    """A trail of ten old entries pruned, SIGTERM raised at each commit for which `at_commit(commits so far)` holds:
    the status, what was said, standard error and the commits. The test catches the signal itself should the prune
    not take it."""
    a_trail(store_url, 10)
    commits = counting_commits(pruning)
    pruning.append(lambda store: sa.event.listen(
        store.engine, "commit", lambda conn: signal.raise_signal(signal.SIGTERM) if at_commit(len(commits)) else None))
    caught: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: caught.append(number))
    try:
        status, said = prune(store_url, monkeypatch)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert caught == [], "the prune did not take the signal"
    return status, said, capsys.readouterr().err, commits


def failing_on(url: str, reason: str) -> None:
    """The database fails a delete of the entry whose reason is `reason`, as a failing disk would."""
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        if url.startswith("sqlite"):
            conn.exec_driver_sql(f"CREATE TRIGGER failing BEFORE DELETE ON audit_events WHEN OLD.reason = '{reason}' "
                                 "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION failing() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'could not read block 7: I/O error'; END $$")
            conn.exec_driver_sql(f"CREATE TRIGGER failing BEFORE DELETE ON audit_events FOR EACH ROW "
                                 f"WHEN (OLD.reason = '{reason}') EXECUTE FUNCTION failing()")
    engine.dispose()


# `backup-bot` itself, its prune BATCH entries a batch.
IN_SMALL_BATCHES = (f"import sys; from bot.adapters.store import audit; audit.PRUNE_BATCH = {BATCH}; "
                    "from bot.runtime.cli import main; sys.exit(main(sys.argv[1:]))")


def test_a_database_failing_on_the_third_batch_keeps_the_first_two_deleted_and_says_so(
    store_url: str, tmp_path: Path
) -> None:
    a_trail(store_url, 12, reasons={9: "the third batch"})  # in batches of 0-3, 4-7 and 8-11
    failing_on(store_url, "the third batch")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-c", IN_SMALL_BATCHES, "audit", "prune", "--before", "400d"],
                          cwd=tmp_path, env={**base, "BACKUP_BOT_DATABASE_URL": store_url}, capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    told = done.stderr.strip().splitlines()
    assert len(told) == 1, done.stderr
    assert told[0].startswith("backup-bot: BACKUP_BOT_DATABASE_URL: the database failed during the prune ("), told
    assert "I/O error" in told[0], told
    assert re.search(r"\), so the prune stopped after deleting 7 audit entries older than [0-9-]+T[0-9:]+Z, which "
                     r"stay deleted: prune again once it answers\.$", told[0]), told
    assert done.stdout == ""
    # 7 and 8 are of the open request; of the third batch none was deleted.
    assert reasons_left(store_url) == ["7", "8", "the third batch", "10", "11", "new"]

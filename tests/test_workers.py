"""`serve` with its worker process (BACKUP_BOT_WORKERS, the default 1): the front acks and writes each request's work
to the inbox; the worker does that work, once. A worker stopped (SIGSTOP) leaves the acks answered and the work
waiting in the inbox; a worker killed makes serve exit non-zero, and the next instance redoes its work."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from processes import access_rules, approve, command, post, serve_env, start, wait_until

from bot.adapters.store import Store, database_url
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState

AUDIT = "C0DBAOPS01"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bot.db"
    return str(request.getfixturevalue("postgres_url"))


def worker_of(serve: subprocess.Popen[bytes]) -> int:
    """The pid of serve's one worker process (its child, started by multiprocessing)."""
    found: list[int] = []

    def spawned() -> bool:
        found[:] = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and parent(int(pid)) == serve.pid
                    and b"spawn_main" in cmdline(int(pid))]
        return len(found) == 1

    wait_until(spawned, "serve started no worker process")
    return found[0]


def parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as line:
            return line.read()
    except OSError:
        return b""


def open_work(url: str) -> int:
    """Work written to the inbox and not yet done."""
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM deliveries WHERE body IS NOT NULL").scalar() or 0)
    finally:
        engine.dispose()


def posted_requests(slack: SlackState) -> list[Any]:
    return [e for e in slack.events if e.kind == "message" and e.thread_ts is None
            and "request_approve" in str(e.blocks)]


def applied(slack: SlackState) -> list[Any]:
    return [e for e in slack.events if e.kind in ("update", "message") and e.channel == AUDIT
            and e.thread_ts is None and "changed the backup policy" in str(e.blocks)]


def stop(serve: subprocess.Popen[bytes]) -> None:
    if serve.poll() is None:
        serve.terminate()
    serve.wait(timeout=60)


def stop_between_writes(pids: list[int], url: str, stopped: list[int]) -> None:
    """SIGSTOP to each worker, at a moment none holds SQLite's write lock (a worker stopped inside a write holds
    every process's writes, /metrics' count of open requests too: not what is tried here)."""
    for _ in range(50):
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        stopped[:] = pids
        if not url.startswith("sqlite"):
            return
        db = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.05, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            stopped.clear()
            time.sleep(0.1)
        finally:
            db.close()
    raise AssertionError("the workers held SQLite's write lock at every try")


def test_a_command_and_a_click_are_worked_on_by_the_worker_once(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    planetscale.add_policy("acme", "app-db", "bpworker", name="Worker", target="production")
    (tmp_path / "access.toml").write_text(access_rules(1))
    slack_url = slack_server[1].url
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        worker = worker_of(serve)
        stop_between_writes([worker], url, [])  # the acks go on; the work waits in the inbox for the worker
        post(port, command("update acme/app-db bpworker retention=9d", slack_url))
        wait_until(lambda: open_work(url) == 1, "the command's work is not in the inbox")
        assert not posted_requests(slack)
        os.kill(worker, signal.SIGCONT)
        wait_until(lambda: len(posted_requests(slack)) == 1 and open_work(url) == 0, "the request was not posted")

        stop_between_writes([worker], url, [])
        post(port, approve(posted_requests(slack)[0], "U0CAROL001", "carol", slack_url))
        wait_until(lambda: open_work(url) == 1, "the click's work is not in the inbox")
        assert not planetscale.calls("PATCH")
        os.kill(worker, signal.SIGCONT)
        wait_until(lambda: applied(slack) and open_work(url) == 0, "the approved change was not applied")
    finally:
        stop(serve)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == ["bpworker"]
    assert len(posted_requests(slack)) == 1 and len(applied(slack)) == 1
    store = Store(url)
    actions = Counter(e.action for e in store.all_events() if e.request_id)
    store.close()
    assert actions["applied"] == 1 and actions["approved"] == 1


def test_a_worker_killed_with_work_handed_to_it_stops_serve_and_the_next_instance_redoes_the_work_once(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    planetscale.add_policy("acme", "app-db", "bpworker", name="Worker", target="development")
    (tmp_path / "access.toml").write_text(access_rules(0))  # applied at once
    slack_url = slack_server[1].url
    env = serve_env(slack_server, planetscale_server, url)
    serve = start(env, tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        worker = worker_of(serve)
        stop_between_writes([worker], url, [])
        post(port, command("update acme/app-db bpworker retention=9d", slack_url))
        wait_until(lambda: open_work(url) == 1, "the command's work is not in the inbox")
        os.kill(worker, signal.SIGKILL)
        assert serve.wait(timeout=60) == 1  # for its supervisor to start it again
    finally:
        stop(serve)
    assert not planetscale.calls("PATCH") and open_work(url) == 1
    assert "worker process worker-0 ended" in (tmp_path / "serve.log").read_text()

    again = start(env, tmp_path, free_port(), "again.log")
    try:  # its keeper takes the work over once the killed instance's lease has run out
        wait_until(lambda: applied(slack) and open_work(url) == 0, "the work was not redone", timeout=60)
    finally:
        stop(again)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == ["bpworker"]
    assert len(applied(slack)) == 1


HELP = "How to use /backup-policy"


def helps_told(slack: SlackState, response: str) -> int:
    """Helps answered through the response URL with this key."""
    return sum(1 for e in slack.events if e.kind == "response" and e.response_key == response and e.text == HELP)


def test_every_help_is_answered_once_in_its_ack_or_through_its_response_url(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    slack_url = slack_server[1].url
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        for i in range(1, 4):  # the first lists the user groups in whichever process answers it; the rest find them
            key = f"help{i}"
            acked = post(port, command("help", slack_url, response=key, trigger=f"1.{i}"))
            if HELP not in acked:
                wait_until(lambda: helps_told(slack, key) == 1, f"help {i} was never answered")  # noqa: B023
            wait_until(lambda: open_work(url) == 0, f"help {i}'s work is left in the inbox")
        assert all(helps_told(slack, f"help{i}") <= 1 for i in range(1, 4))
    finally:
        stop(serve)
    # Bolt's warning that the token it read from the environment goes unused beside the app's client: not a problem
    # of the app's, said by the front and each worker at each start, it would train people to skip warnings.
    assert "will be unused" not in (tmp_path / "serve.log").read_text()


def test_with_a_worker_a_help_is_answered_in_its_ack_once_the_front_has_listed_the_user_groups(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    slack_url = slack_server[1].url
    serve = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path}/bot.db"), tmp_path,
                  free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    asked = iter(range(1, 100_000))
    try:  # the front lists them itself, off the ack's path, and keeps them fresh
        wait_until(lambda: HELP in post(port, command("help", slack_url, trigger=f"1.{next(asked)}")),
                   "no help was answered in its ack", timeout=60)
    finally:
        stop(serve)


def test_a_help_left_by_a_stopped_instance_is_answered_by_another_that_knows_the_user_groups(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    from bot.emulators.slack import MethodFault

    (tmp_path / "access.toml").write_text(access_rules(1))
    slack_url = slack_server[1].url
    env = serve_env(slack_server, planetscale_server, url)
    other = start(env, tmp_path, free_port(), "other.log")
    other_port = int(other.args[-1])  # type: ignore[index]
    try:
        # A help of its own first: whichever of its processes answers it has the user groups listed when its keeper
        # takes the stopped instance's help over.
        if HELP not in post(other_port, command("help", slack_url, response="own", trigger="1.1")):
            wait_until(lambda: helps_told(slack, "own") == 1, "the other instance's own help was not answered")
        # Slack lists no user groups to the instance that stops: its help cannot be answered in the ack.
        slack.add_fault(MethodFault("usergroups.list", error="internal_error", times=None))
        serve = start(env, tmp_path, free_port())
        port = int(serve.args[-1])  # type: ignore[index]
        try:
            worker = worker_of(serve)
            stop_between_writes([worker], url, [])
            assert HELP not in post(port, command("help", slack_url, response="left", trigger="1.2"))
            wait_until(lambda: open_work(url) == 1, "the help's work is not in the inbox")
            with slack.lock:
                slack.faults.clear()
            os.kill(worker, signal.SIGKILL)
            assert serve.wait(timeout=60) == 1
        finally:
            stop(serve)
        # the other instance's keeper takes the work over once the stopped one's lease has run out
        wait_until(lambda: helps_told(slack, "left") == 1, "the help taken over was never answered", timeout=60)
        wait_until(lambda: open_work(url) == 0, "the help's work is left in the inbox")
    finally:
        stop(other)

"""`serve`'s checks and its workers' stop, on a bad day.

What only reads the database (/healthz's look at the schema, /metrics' count of open requests) must not wait for
SQLite's one writer: in WAL mode a read goes on beside a write another process holds (`backup-bot audit prune`
deleting a long trail, a worker inside a long write, an operator's `sqlite3` shell), and the database is usable."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import sqlalchemy as sa
from conftest import ALICE, SIGNING_SECRET
from processes import access_rules, command, post, serve_env, start, wait_until
from slack_bolt import BoltRequest
from test_inbox import PROD, Instances, Killed, left_undone, retention
from test_inbox import instances as instances  # the fixture: instances on one database
from test_slow_clients_and_stalled_postgresql import StallingProxy
from test_workers import stop
from test_workers import url as url  # the fixture: SQLite and PostgreSQL
from test_workers_on_a_bad_day import stop_between_writes, workers_of

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import signed_headers
from bot.runtime import metrics
from bot.runtime.running import start_sweeper
from bot.runtime.workers import Workers

# Longer than /healthz's and /metrics' own bound (HEALTH_TIMEOUT_SECONDS, SCRAPE_TIMEOUT_SECONDS: 4 s).
HELD_SECONDS = 6.0


def test_healthz_and_metrics_answer_while_another_process_holds_sqlites_write_lock(
    tmp_path: Path, slack_server: Any, planetscale_server: Any
) -> None:
    """/healthz read the schema's version, and /metrics counted the open requests, each in a transaction that
    began as a writer's (BEGIN IMMEDIATE): while another process held SQLite's write lock for longer than their
    4 s, both answered 503 ("not answering within 4 s", "the metrics wait on the database"), though the database
    answered every read, and a supervisor would restart a healthy bot. They read as readers do."""
    url = f"sqlite:///{tmp_path}/bot.db"
    (tmp_path / "access.toml").write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    writer = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("SELECT count(*) FROM change_requests").fetchone()
        held = time.monotonic()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        waited = time.monotonic() - held
        writer.execute("ROLLBACK")
        assert health.status_code == 200, health.text
        assert metrics.status_code == 200, metrics.text
        assert waited < HELD_SECONDS, f"the checks waited {waited:.1f} s for the writer"
        assert "backup_bot_requests_pending 0.0" in metrics.text
    finally:
        writer.close()
        stop(serve)


def test_a_worker_that_ends_in_time_as_serve_stops_is_not_said_to_be_late_nor_killed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two threads waited for each worker's end: its watch (`_watch`, process.join() without a bound) and the stop
    (`join`, with the drain's bound). Both woke as the worker ended, one reaped it, and when the watch did, the
    stop's wait found no child (ECHILD), took the worker for alive, logged that it "did not end in time: ended
    now; its work is redone from the inbox", and sent SIGKILL to a pid already reaped (another process's, should
    it be reused). Seen by chance about once in 40 stops of a worker; here the watch is made to reap first and to
    take a moment to note it, as a scheduler may. One thread alone waits for each worker's end."""
    import threading

    real_waitpid = os.waitpid
    watch_reaped = threading.Event()

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        if threading.current_thread().name.endswith("-watch"):
            answer = real_waitpid(pid, options)
            if answer[0] == pid:
                watch_reaped.set()
                time.sleep(0.5)  # reaped; the exit code noted a moment later
            return answer
        if options == 0:  # the stop's wait, once the worker's end is seen: after the watch has reaped it
            watch_reaped.wait(5)
        return real_waitpid(pid, options)

    workers = Workers(1, "holder", drain_timeout=1.0, on_death=lambda reason: None)
    workers.processes[0] = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0.5,),
                                                                        name="worker-0")
    monkeypatch.setattr(os, "waitpid", waitpid)
    try:
        workers.start()
        workers.ask_to_stop()
        with caplog.at_level(logging.WARNING, logger="bot"):
            workers.join()
    finally:
        metrics.WORKERS.remove(workers.metrics)
    assert not [r.getMessage() for r in caplog.records if "did not end in time" in r.getMessage()]
    assert workers.processes[0].exitcode == 0


# More commands than the pipe to one worker holds (64 KiB on Linux, a signed command of about 700 bytes each).
COMMANDS = 300


def test_a_stuck_worker_holds_not_the_work_handed_to_the_others(
    tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any, url: str
) -> None:
    """The front handed each request's work to its workers in turn over one thread: once the pipe to a worker that
    stopped reading (stopped, frozen, starved) was full, that thread waited on it for ever, and the work of every
    other worker waited behind it, though they were free. With two workers and one stuck, the other answered a
    hundred of its 150 commands and then nothing. Each worker's line is its own, and a worker whose line is
    longest (its pipe full) is given no more."""
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = {**serve_env(slack_server, planetscale_server, url), "BACKUP_BOT_WORKERS": "2"}
    serve = start(env, tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    stuck: list[int] = []
    try:
        wait_until(lambda: len(workers_of(serve)) == 2, "serve did not start its two workers")
        post(port, command("pending", slack_server[1].url, response="first", trigger="0.0"))
        post(port, command("pending", slack_server[1].url, response="second", trigger="0.1"))
        wait_until(lambda: answered(slack) == 2, "the workers did not answer")
        stop_between_writes(workers_of(serve)[1:], url, stuck)  # which one takes the next piece: either
        for n in range(COMMANDS):
            post(port, command("pending", slack_server[1].url, response=str(n), trigger=f"1.{n}"))
        wait_until(lambda: answered(slack) >= 2 + COMMANDS // 2, f"of {COMMANDS // 2} commands handed to the "
                   f"worker still running, {answered(slack) - 2} were answered", timeout=60)
    finally:
        for pid in stuck:
            os.kill(pid, signal.SIGCONT)
        stop(serve)


def answered(slack: SlackState) -> int:
    return len({e.response_key for e in slack.events if e.kind == "response"})


def started_socket(env: dict[str, str], cwd: Path, slack: SlackState) -> tuple[subprocess.Popen[bytes], int]:
    """`backup-bot socket` with its health check on a port of its own, connected to Slack: the process and the port."""
    slack.app_token = "xapp-1-A0BACKUPBOT-test"
    health_port = free_port()
    with open(cwd / "socket.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket", "--health-host", "127.0.0.1",
                                    "--health-port", str(health_port)], cwd=cwd,
                                   env={**env, "SLACK_APP_TOKEN": slack.app_token}, stdout=subprocess.DEVNULL,
                                   stderr=log)
    wait_until(lambda: slack.socket_connections >= 1 or process.poll() is not None,
               "the app did not connect over Socket Mode")
    assert process.poll() is None, (cwd / "socket.log").read_text()[-2000:]
    # The health check listens on its own thread: it may open its port just after the socket connects.
    wait_until(lambda: health_answers(health_port) or process.poll() is not None,
               "the health check did not open its port")
    return process, health_port


def health_answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    except httpx.TransportError:
        return False
    return True


def test_what_the_watch_skipped_is_told_by_healthz_of_socket_mode(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any
) -> None:
    """`backup-bot socket` runs the watch, but its health check was given no watcher (`health_report(deps)`): what
    the watch skipped, told by /healthz under serve (rev20g), was never named there."""
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpfortnight", name="Odd unit", frequency_unit="fortnight")
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path}/bot.db"),
           "BACKUP_BOT_WATCH_EVERY": "1s"}
    process, port = started_socket(env, tmp_path, slack)
    try:
        wait_until(lambda: "finding(s), 1 skipped" in (tmp_path / "socket.log").read_text(),
                   "the watch skipped nothing")
        report = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert any("frequency_unit" in s for s in report.get("watch_skipped", [])), report
        assert report["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_healthz_of_socket_mode_answers_within_its_bound_while_postgresql_stops_answering(
    tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any, postgres_url: str
) -> None:
    """Socket Mode's health check asked the database on the probe's own thread with no bound: while PostgreSQL
    stopped answering on the network (a proxy or path that hangs, which no statement_timeout ends), each probe
    hung, and each held a thread and a connection of the pool, where /healthz of serve answers 503 within 4 s."""
    given = sa.engine.make_url(postgres_url)  # its port may be left to PostgreSQL's default
    proxy = StallingProxy((given.host or "127.0.0.1", given.port or 5432))
    url = given.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    (tmp_path / "access.toml").write_text(access_rules(1))
    process, port = started_socket(serve_env(slack_server, planetscale_server, url), tmp_path, slack)
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200,
                   "the health check did not answer 200")
        proxy.flowing.clear()
        asked = time.monotonic()
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        except httpx.ReadTimeout:
            raise AssertionError("/healthz did not answer within 10 s") from None
        # Its bound is 4 s (HEALTH_TIMEOUT_SECONDS); the margin is a loaded machine's.
        assert answer.status_code == 503 and time.monotonic() - asked < 9, answer.text
        assert "not answering" in answer.json()["database"], answer.text
    finally:
        proxy.close()
        process.terminate()
        process.wait(timeout=30)


def test_work_of_a_stopped_instance_taken_over_past_five_minutes_is_still_done(
    instances: Instances, planetscale: PlanetScaleState, slack: SlackState, settings: Any,
    slack_clock: list[float]
) -> None:
    """An instance acked a command and stopped before its work (killed, or its database gone); the next instance
    started more than five minutes after Slack sent the command (a supervisor's back-off, a restart after an
    outage). Its keeper took the row over and checked the signature as Bolt does, within five minutes of Slack's
    time stamp: 401, a warning in the log, the row held and renewed until closed undone after half an hour, and
    alice, who was acked, never told anything. The row was signed by Slack and written by the instance that
    checked it; its work is done within the inbox's half hour, as its response URL still takes answers."""
    killed, alive = instances.start(Killed()), instances.start()
    body = killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    sent = int(slack_clock[0]) - 297  # Slack's time stamp: the ack comes within Bolt's five minutes
    headers = signed_headers(SIGNING_SECRET, body, timestamp=sent)
    assert killed.app.dispatch(BoltRequest(body=body, headers=headers)).status == 200
    slack_clock[0] = sent + 301
    keeper = start_sweeper(alive.deps, alive.app, settings, start=False).inbox
    assert keeper is not None
    keeper.inbox.ahead = LEASE_SECONDS + 1
    keeper.step()
    assert alive.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert left_undone(alive) == []


def test_healthz_says_so_while_a_worker_stops_answering(
    tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any, url: str
) -> None:
    """A worker frozen (stopped, hung) does nothing handed to it, and its rows, whose leases the front and the
    keeper renew, are never taken over: every acked request waits in silence. /healthz said ok (the process is
    alive; the report it does not give is left out), so no supervisor restarted serve to have its work redone.
    A worker silent for longer than its bound makes /healthz say unavailable, and an answer again ok."""
    (tmp_path / "access.toml").write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    stuck: list[int] = []
    try:
        post(port, command("pending", slack_server[1].url))
        wait_until(lambda: answered(slack) == 1, "the worker did not answer")
        stop_between_writes(workers_of(serve), url, stuck)
        post(port, command("pending", slack_server[1].url, response="10", trigger="1.2"))
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 503,
                   "/healthz said ok while the worker did nothing", timeout=45)
        report = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert "worker-0" in report.get("workers", ""), report
        for pid in stuck:
            os.kill(pid, signal.SIGCONT)
        stuck.clear()
        wait_until(lambda: answered(slack) == 2, "the worker did not answer once it ran again")
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200,
                   "/healthz did not say ok again")
    finally:
        for pid in stuck:
            os.kill(pid, signal.SIGCONT)
        stop(serve)


def test_an_access_file_readable_again_unchanged_is_no_longer_told_as_unreadable(
    tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any
) -> None:
    """The access file could not be read for a moment (moved aside and back, a network file system's hiccup):
    the rules kept were the file's, rightly, and /healthz said it could not be read. Back unchanged (its stamp the
    one in force), nothing cleared that: /healthz went on saying so for as long as serve ran."""
    rules = tmp_path / "access.toml"
    rules.write_text(access_rules(1))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path}/bot.db"), "BACKUP_BOT_WORKERS": "0"}
    serve = start(env, tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        rules.rename(tmp_path / "aside.toml")
        post(port, command("list acme/app-db", slack_server[1].url))
        wait_until(lambda: answered(slack) == 1, "the command was not answered")
        told = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert "cannot be read" in told.get("access_rules", ""), told
        (tmp_path / "aside.toml").rename(rules)
        post(port, command("list acme/app-db", slack_server[1].url, response="10", trigger="1.2"))
        wait_until(lambda: answered(slack) == 2, "the command was not answered")
        told = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert "access_rules" not in told, told
    finally:
        stop(serve)


def test_a_command_acked_over_socket_mode_by_an_instance_killed_before_its_work_is_redone(
    instances: Instances, planetscale: PlanetScaleState, settings: Any
) -> None:
    """Over Socket Mode, Bolt's request is the envelope's payload (`BoltRequest(mode="socket_mode", body=dict)`,
    as slack_bolt's socket adapter makes it), with no raw body: `inbox_payload` wrote nothing, so the work was
    not in the inbox, and an instance killed after its ack (the envelope acked over the socket, never sent again)
    lost it: the change never made, the person never told. README: an instance killed outright loses nothing it
    acknowledged."""
    killed, alive = instances.start(Killed()), instances.start()
    payload = dict(parse_qsl(killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)))
    assert killed.app.dispatch(BoltRequest(mode="socket_mode", body=payload, headers={})).status == 200
    keeper = start_sweeper(alive.deps, alive.app, settings, start=False, socket_mode=True).inbox  # as `socket`'s
    assert keeper is not None and settings.slack_signing_secret  # a signing secret set, for Slack's HTTP requests
    keeper.inbox.ahead = LEASE_SECONDS + 1
    keeper.step()
    assert alive.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert left_undone(alive) == []

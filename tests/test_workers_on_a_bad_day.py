"""`serve` with worker processes (BACKUP_BOT_WORKERS), on a bad day.

The front reads the settings and the access file once as it starts; a worker starts a second or more later, once
the schema is checked. What the worker reads again itself in that moment, or knows alone, must not differ from the
front's: serve's processes are one instance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import SIGNING_SECRET
from processes import access_rules, command, post, serve_env, start, wait_until
from test_workers import cmdline, parent, stop, stop_between_writes
from test_workers import url as url  # the fixture: SQLite and PostgreSQL

from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import MethodFault, SlackState
from bot.emulators.slack_requests import app_home_opened_body, signed_headers


def test_a_dotenv_saved_with_a_mistake_while_the_worker_starts_does_not_end_serve(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """The worker read `.env` again as it started, a second or more after the front had read it: a setting saved
    mistyped in that moment ended the worker with status 2, and with it serve, which had started on good
    settings. The worker starts from the settings the front read."""
    (tmp_path / "access.toml").write_text(access_rules(1))

    def save_once_serving() -> None:  # the front has read .env; its worker starts once the schema is checked
        wait_until(lambda: "serving on" in (tmp_path / "serve.log").read_text(), "serve did not start")
        (tmp_path / ".env").write_text("BACKUP_BOT_DRAIN_TIMEOUT=soon\n")

    (tmp_path / "serve.log").touch()
    saving = threading.Thread(target=save_once_serving)
    saving.start()
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    saving.join()
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        post(port, command("list acme/app-db", slack_server[1].url))
        wait_until(lambda: any(e.kind == "response" for e in slack.events) or serve.poll() is not None,
                   "the command was not answered")
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
    finally:
        stop(serve)


def open_home(port: int, user: str, event: str) -> None:
    body = app_home_opened_body(user_id=user, event_id=event)
    answer = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body, timeout=10,
                        headers=dict(signed_headers(SIGNING_SECRET, body, content_type="application/json")))
    assert answer.status_code == 200, answer.text


def test_a_request_asked_on_another_worker_refreshes_the_home_of_an_approver_who_opened_it(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """Who opened their Home lately was known to the worker that published it alone: with two workers, a request
    asked through the other one did not publish carol's Home again, so the request waiting for her approval was
    missing from the Home she had open (one process, or one worker, publishes it)."""
    for n in range(3):
        planetscale.add_policy("acme", "app-db", f"bphome{n}", name=f"Home {n}", target="production")
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = {**serve_env(slack_server, planetscale_server, url), "BACKUP_BOT_WORKERS": "2"}
    serve = start(env, tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        open_home(port, "U0CAROL001", "Ev00000001")
        wait_until(lambda: "U0CAROL001" in slack.homes, "carol's Home was not published")
        assert "request_approve" not in str(slack.homes["U0CAROL001"])
        # The work is handed to the workers in turn, piece by piece: whatever the pieces of one request, bob's
        # Home between the second and third request puts one of the three on the worker that did not take carol's.
        for n in range(3):
            if n == 2:
                open_home(port, "U0BOB00001", "Ev00000002")
            post(port, command(f"update acme/app-db bphome{n} retention=9d", slack_server[1].url,
                               response=str(n), trigger=f"1.{n}"))
            wait_until(lambda n=n: requests_posted(slack) == n + 1, "the request was not posted")
            wait_until(lambda n=n: str(slack.homes["U0CAROL001"]).count("request_approve") == n + 1,
                       f"carol's Home does not show request {n + 1} waiting for her", timeout=10)
    finally:
        stop(serve)


def requests_posted(slack: SlackState) -> int:
    return sum(1 for e in slack.events if e.kind == "message" and e.thread_ts is None
               and "request_approve" in str(e.blocks))


def test_serve_on_a_schema_newer_than_its_release_stops_with_one_line_naming_it(
    tmp_path: Path, slack_server: Any, planetscale_server: Any, url: str
) -> None:
    """A release rolled back without the newer one's downgrade (README, Going back): Alembic's "Can't locate
    revision" escaped the schema check's thread as a traceback, and serve went on acking with no worker (its work
    queued for ever, /healthz saying a worker had ended) or, without workers, with no sweep and no watch and
    /healthz saying ok. It stops, as for a database that cannot be used, with one line saying what to do."""
    store = Store(url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    store.close()
    (tmp_path / "access.toml").write_text(access_rules(1))
    for workers in ("1", "0"):
        env = {**serve_env(slack_server, planetscale_server, url), "BACKUP_BOT_WORKERS": workers}
        try:
            done = subprocess.run([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                   str(free_port())], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=20)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"serve went on with {workers} worker(s) on a schema it does not know: "
                                 f"{str(exc.stderr)[-1500:]}") from None
        assert done.returncode == 2, done.stderr[-1500:]
        [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("backup-bot:")]
        assert "9999" in line and "newer" in line, line


def test_a_reload_refused_for_a_name_of_a_megabyte_is_told_at_healthz_in_a_line(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """An access file saved with a table named by a megabyte (a paste gone wrong): the reload is refused, rightly,
    but its reason quoted the name whole, so every /healthz answered a megabyte (passed from the worker over its
    pipe, then serialized on the event loop the acks share), as the watch's skipped items did before rev20e."""
    rules = tmp_path / "access.toml"
    rules.write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        post(port, command("list acme/app-db", slack_server[1].url))
        wait_until(lambda: any(e.kind == "response" for e in slack.events), "the worker did not answer")
        rules.write_text(access_rules(1) + f'\n[{"x" * 2**20}]\nkey = 1\n')
        os.utime(rules, (time.time() - 5, time.time() - 5))  # written whole a while ago
        post(port, command("list acme/billing-db", slack_server[1].url, response="10", trigger="1.2"))
        wait_until(lambda: "access_rules" in httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json(),
                   "/healthz does not tell the refused reload")
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        told = answer.json()["access_rules"]
        assert "unknown table" in told and told.endswith("keeping the last good rules."), told[:300]
        assert len(answer.content) < 4096, len(answer.content)
    finally:
        stop(serve)


def test_slack_failing_auth_test_while_the_worker_starts_does_not_end_serve(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """The front checked the token with auth.test as it started; the worker checked it again a second or more
    later, and a Slack hiccup then (503s past the client's retries) ended the worker with status 2 and with it
    serve, which acks without Slack. The worker waits for Slack instead, and does the work queued meanwhile."""
    slack.add_fault(MethodFault(method="auth.test", status=503, times=None, skip=1))  # the front's passes
    (tmp_path / "access.toml").write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        post(port, command("list acme/app-db", slack_server[1].url))
        wait_until(lambda: len(slack.method_calls("auth.test")) >= 4 or serve.poll() is not None,
                   "the worker did not check the token")
        time.sleep(1)
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
        with slack.lock:
            slack.faults.clear()  # Slack is back
        wait_until(lambda: any(e.kind == "response" for e in slack.events), "the command was not answered")
        assert serve.poll() is None
    finally:
        stop(serve)


def test_metrics_of_serve_with_four_stuck_workers_still_answers_with_the_fronts(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """/metrics asked each worker in turn, a second each: with four workers stuck (stopped, or starved at their
    lower priority), the scrape passed its 4 s and answered 503 "the metrics wait on the database", which was
    answering, and the front's own counts (its acks, the very sign of the stall) were lost. /healthz was bounded
    to one second in all (ac9423f); /metrics is too."""
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = {**serve_env(slack_server, planetscale_server, url), "BACKUP_BOT_WORKERS": "4"}
    serve = start(env, tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    stopped: list[int] = []
    try:
        wait_until(lambda: len(workers_of(serve)) == 4, "serve did not start its four workers")
        post(port, command("list acme/app-db", slack_server[1].url))
        wait_until(lambda: any(e.kind == "response" for e in slack.events), "the command was not answered")
        stop_between_writes(workers_of(serve), url, stopped)
        post(port, command("list acme/billing-db", slack_server[1].url, response="10", trigger="1.2"))
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=15)
        assert answer.status_code == 200, answer.text
        assert 'backup_bot_requests_total{kind="command:list",outcome="acked"} 2.0' in answer.text, answer.text[:2000]
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stop(serve)


def workers_of(serve: subprocess.Popen[bytes]) -> list[int]:
    return [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and parent(int(pid)) == serve.pid
            and b"spawn_main" in cmdline(int(pid))]

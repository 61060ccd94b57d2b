"""`serve` with its worker process (BACKUP_BOT_WORKERS, default 1), on a bad day.

/healthz is answered by the front, but the access rules are decided, and the watch runs, in the worker: what the
operator was told at /healthz without workers (a bad reload of the access file, what the watch skipped) must still
be told with them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from processes import access_rules, command, post, serve_env, start, wait_until
from test_workers import stop
from test_workers import url as url  # the fixture: SQLite and PostgreSQL

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState


def health(port: int) -> dict[str, Any]:
    return dict(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json())


def test_a_bad_reload_of_the_access_file_is_told_by_healthz_of_serve_with_its_worker(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """The worker reads the file again for the next command, keeps the last good rules and logs it; but /healthz
    read the front's copy of the rules, which no command of the front asks for: it said ok, with no word of it."""
    rules = tmp_path / "access.toml"
    rules.write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        assert "access_rules" not in health(port)
        post(port, command("list acme/app-db", slack_server[1].url))  # the worker is up, with the rules read
        wait_until(lambda: any(e.kind == "response" for e in slack.events), "the worker did not answer")
        rules.write_text("[[rules]]\nbroken =\n")
        os.utime(rules, (time.time() - 5, time.time() - 5))  # written whole a while ago
        post(port, command("list acme/billing-db", slack_server[1].url))
        wait_until(lambda: "access rules not reloaded" in (tmp_path / "serve.log").read_text(),
                   "the worker did not read the file again")
        # A worker answers /healthz within a second or is left out of that answer: on a loaded machine, the next.
        wait_until(lambda: "keeping the last good rules" in health(port).get("access_rules", ""),
                   "/healthz does not tell the rules kept", timeout=15)
        assert health(port)["status"] == "ok"
    finally:
        stop(serve)


def test_what_the_watch_skipped_is_told_by_healthz_of_serve_with_its_worker(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """The watch runs in the first worker and keeps what its last pass skipped there; /healthz, in the front,
    asked the front's watcher, which `serve` with workers has none of: it never named what was skipped."""
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpfortnight", name="Odd unit", frequency_unit="fortnight")
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = {**serve_env(slack_server, planetscale_server, url), "BACKUP_BOT_WATCH_EVERY": "1s"}
    serve = start(env, tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        wait_until(lambda: "finding(s), 1 skipped" in (tmp_path / "serve.log").read_text(), "the watch skipped nothing")
        wait_until(lambda: any("frequency_unit" in s for s in health(port).get("watch_skipped", [])),
                   "/healthz does not name what the watch skipped", timeout=15)
        assert health(port)["status"] == "ok"
    finally:
        stop(serve)


def test_an_access_file_written_bad_while_the_worker_starts_does_not_end_serve(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    url: str
) -> None:
    """The worker read the access file again as it started, a second or more after the front had read it: a file
    saved with a mistake in that moment ended the worker with status 2, and with it serve, which had started on
    good rules (without workers, a bad file after the start keeps the last good rules and says so). The worker
    starts from the rules the front read."""
    (tmp_path / "access.toml").write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, url), tmp_path, free_port())
    port = int(serve.args[-1])  # type: ignore[index]
    try:
        (tmp_path / "access.toml").write_text("[[rules]]\nbroken =\n")  # the worker is starting still
        os.utime(tmp_path / "access.toml", (time.time() - 5, time.time() - 5))
        post(port, command("list acme/app-db", slack_server[1].url))
        wait_until(lambda: any(e.kind == "response" for e in slack.events) or serve.poll() is not None,
                   "the command was not answered")
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
        wait_until(lambda: "keeping the last good rules" in health(port).get("access_rules", ""),
                   "/healthz does not tell the bad file")
    finally:
        stop(serve)

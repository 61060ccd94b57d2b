"""`serve` with its worker process (BACKUP_BOT_WORKERS=1) while PostgreSQL's network stalls (packets dropped,
nothing refused): the front writes each request's work to the inbox before handing it to the worker, so an ack
that waited on that write, or work handed over only once written, would leave Slack timing out and people in
silence. A burst of commands is acked within Slack's 3 seconds each, and each person is told in words meanwhile.
Between serve and PostgreSQL, the test's stalling proxy (test_stalled_network)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from processes import access_rules, command, post, serve_env, start, wait_until
from test_stalled_network import StallingProxy, proxied

from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState
from bot.runtime.executor import STILL_WORKING

__all__ = ["proxied"]  # a fixture, used by name

BURST = 15


def test_serve_with_a_worker_acks_a_burst_within_3_seconds_while_the_database_stalls_and_tells_each_person(
        tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any,
        proxied: tuple[StallingProxy, str]) -> None:
    proxy, url = proxied
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, url), "BACKUP_BOT_WORKERS": "1",
           "BACKUP_BOT_WATCH_EVERY": "off"}
    slack_url = slack_server[1].url
    port = free_port()
    serve = start(env, tmp_path, port)

    def timed(i: int) -> float:
        began = time.monotonic()
        post(port, command("list acme/app-db", slack_url, response=str(i), trigger=f"{i}.{i}"))
        return time.monotonic() - began

    try:
        post(port, command("list acme/app-db", slack_url, response="0", trigger="0.0"))
        wait_until(lambda: any(e.kind == "response" and e.response_key == "0" for e in slack.events),
                   "no answer before the stall", timeout=60)
        proxy.stalled.set()
        with ThreadPoolExecutor(BURST) as pool:
            took = dict(zip(range(1, BURST + 1), pool.map(timed, range(1, BURST + 1)), strict=True))
        late = {i: round(s, 1) for i, s in took.items() if s > 3.0}
        assert not late, f"acked past Slack's 3 seconds: {late}"
        told = lambda: {e.response_key for e in slack.events  # noqa: E731
                        if e.kind == "response" and STILL_WORKING in e.text}
        wait_until(lambda: len(told()) >= BURST, f"people left in silence: {sorted(told())}", timeout=120)
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except Exception:
            serve.kill()
            serve.wait(timeout=30)

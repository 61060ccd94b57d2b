"""Issue 19 item 13 through `backup-bot serve`: one signed command delivered to two instances on one PostgreSQL,
and retried by Slack, is acted on once; the others are acked and logged as already acted on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from conftest import SIGNING_SECRET
from processes import access_rules, command, serve_env, start, wait_until

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import signed_headers


def deliver(port: int, body: str, headers: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body, headers=headers, timeout=10)


def test_one_command_delivered_to_two_served_instances_and_retried_is_acted_on_once(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    postgres_url: str
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = serve_env(slack_server, planetscale_server, postgres_url)
    ports = [free_port(), free_port()]
    servers = [start(env, tmp_path, port, f"serve-{port}.log") for port in ports]
    body = command('update acme/app-db "Production daily" retention=7d', slack_server[1].url)
    headers = dict(signed_headers(SIGNING_SECRET, body))
    retry = {**signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) + 1), "x-slack-retry-num": "1"}
    try:
        answers = [deliver(ports[0], body, headers), deliver(ports[1], body, headers),
                   deliver(ports[0], body, dict(retry))]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert all("Checking your change" in a.text for a in answers)  # each acked at once

        def logged() -> int:
            return sum((tmp_path / f"serve-{p}.log").read_text().count("not acted on again") for p in ports)

        wait_until(lambda: logged() == 2, "the replays were not recognised")
        wait_until(lambda: any(e.kind == "message" for e in slack.events), "the request was not posted")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    assert len([e for e in slack.events if e.kind == "message" and e.channel == "C0DBAOPS01"]) == 1
    assert planetscale.calls("PATCH") == []

"""A slash command whose form holds the text `payload` anywhere (a reason, a policy name, the channel's name, the
workspace's domain) is a slash command: Bolt took any body holding that text for an interaction, found no
`payload` field, and dispatched an empty request, so the command was dropped (404 to Slack, the person shown an
error, nothing done). Over HTTP as `backup-bot serve` runs, and through Bolt's pipeline as the tests drive it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from conftest import SIGNING_SECRET, Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack_requests import signed_headers
from bot.runtime.server import create_asgi_app


@pytest.fixture
def server(bot: Bot) -> Iterator[str]:
    with BackgroundServer(create_asgi_app(bot.app, signing_secret=SIGNING_SECRET)) as running:
        yield running.url


def with_field(body: str, key: str, value: str) -> str:
    return urlencode({**dict(parse_qsl(body, keep_blank_values=True)), key: value})


@pytest.mark.parametrize(("key", "value"), [("text", 'update acme/app-db bp03devday retention=5d reason="payload"'),
                                            ("channel_name", "payload-eng"), ("team_domain", "payloads-inc")])
def test_a_command_holding_the_word_payload_over_http_is_done(
        bot: Bot, server: str, planetscale: PlanetScaleState, key: str, value: str) -> None:
    body = bot.command_body("update acme/app-db bp03devday retention=5d")
    body = with_field(body, key, value)
    answer = httpx.post(f"{server}/slack/events", content=body, timeout=10,
                        headers=dict(signed_headers(SIGNING_SECRET, body)))  # type: ignore[arg-type]
    assert answer.status_code == 200, (answer.status_code, answer.text)
    assert bot.executor.wait_idle(30)
    [patch] = planetscale.calls("PATCH")
    assert patch.body == {"retention_value": 5, "retention_unit": "day"}


def test_a_command_whose_reason_is_payload_is_done(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command('update acme/app-db bp03devday retention=5d reason="the payload team asked"')
    assert "Checking your change" in reply.all_text(), reply.all_text()
    assert len(planetscale.calls("PATCH")) == 1

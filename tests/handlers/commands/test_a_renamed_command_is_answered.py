"""The slash command renamed in the app's settings (`/backups`, to avoid another app's name): Bolt found no listener
and answered 404, so Slack showed the person only "/backups failed with the error dispatch_failed", and the operator
a warning in the log. The person is told, to them alone, which name the app answers and how to put it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Bot
from processes import access_rules, command, post, serve_env, start
from test_workers import stop

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port


def renamed(body: str, name: str) -> str:
    assert "command=%2Fbackup-policy&" in body
    return body.replace("command=%2Fbackup-policy&", f"command=%2F{name}&", 1)


def test_a_renamed_command_is_told_the_name_the_app_answers(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.send(renamed(bot.command_body("update acme/app-db \"Development daily\" retention=5d"), "backups"))
    assert reply.response.status == 200, reply.response.body
    text = reply.ack_text
    assert "/backup-policy" in text and "/backups" in text and "renamed" in text, text
    assert reply.ack.get("response_type") != "in_channel"
    assert reply.public == [] and planetscale.calls("PATCH") == []
    assert "How to use" in bot.command("help").all_text(), "the app's own command still answered"


def test_a_renamed_command_is_answered_by_serve_with_workers(
    tmp_path: Path, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    serve = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path}/bot.db"), tmp_path,
                  free_port())
    try:
        port = int(serve.args[-1])  # type: ignore[index]
        ack = post(port, renamed(command("list acme/app-db", slack_server[1].url), "backups"))
        assert "/backup-policy" in ack and "renamed" in ack, ack
    finally:
        stop(serve)

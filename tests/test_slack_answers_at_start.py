"""`serve` starting while Slack answers `auth.test` (the token's check, as Bolt's app is built) in shapes the bot
cannot read: it stops with one line naming Slack's answer and what to check, no traceback and no token; an
answer missing only what the bot can do without (`bot_id`, as a user token's) lets it start."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import BOT_TOKEN
from processes import access_rules, serve_env, serve_to_its_end, start
from test_workers import stop

from bot.emulators.serving import free_port
from bot.emulators.slack import MethodFault, SlackState

BOT = {"ok": True, "url": "https://acme.slack.com/", "team": "acme", "user": "backup-bot", "team_id": "T0DEMO0001",
       "user_id": "U0BACKUPBOT"}


def serve(tmp_path: Path, slack_server: Any, planetscale_server: Any) -> subprocess.CompletedProcess[str]:
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}")
    return serve_to_its_end(env, tmp_path)


@pytest.mark.parametrize(("answer", "named"), [
    ([BOT], "a list"),
    ("ok", "a string"),
    ({"ok": True}, "fields: ok"),
    ({**BOT, "user_id": 7}, "fields: ok, team, team_id, url, user, user_id"),
    ({**BOT, "team_id": None}, "fields: ok, team, team_id, url, user, user_id"),
    ({**BOT, "bot_id": ["B0BACKUPBOT"]}, "fields: bot_id, ok, team"),
    ({**BOT, "enterprise_id": 5}, "fields: enterprise_id, ok, team"),
    ({**BOT, "ok": "true"}, "fields: ok, team"),
])
def test_an_unreadable_auth_test_answer_stops_serve_with_one_line_naming_it(
    tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any, answer: Any, named: str
) -> None:
    slack.add_fault(MethodFault("auth.test", body=answer, times=None))
    done = serve(tmp_path, slack_server, planetscale_server)
    problems = [line for line in done.stderr.splitlines() if line.startswith("backup-bot: ")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(problems) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "auth.test" in problems[0] and "cannot read" in problems[0] and named in problems[0], problems
    assert "SLACK_API_URL" in problems[0] and BOT_TOKEN not in done.stderr


def test_an_auth_test_answer_without_a_bot_id_lets_serve_start(
    tmp_path: Path, slack: SlackState, slack_server: Any, planetscale_server: Any
) -> None:
    slack.add_fault(MethodFault("auth.test", body=BOT, times=None))  # as Slack answers a user token: no bot_id
    (tmp_path / "access.toml").write_text(access_rules(1))
    process = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"), tmp_path,
                    free_port())
    stop(process)

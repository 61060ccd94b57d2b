"""Signed Slack payloads of wrong types, absurd settings refused at start, and Socket Mode past broken envelopes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from conftest import SIGNING_SECRET, Bot
from processes import access_rules, command, serve_env, wait_until
from test_serve import post, server  # noqa: F401

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import CLOSE
from bot.emulators.slack_requests import signed_headers, socket_envelope

USER = {"id": "U0ALICE001", "name": "alice", "username": "alice", "team_id": "T0DEMO0001"}
APPROVE = {"type": "button", "block_id": "b", "action_ts": "1.1", "action_id": "request_approve", "value": "x"}


def click(slack_url: str, **parts: Any) -> str:
    payload = {"type": "block_actions", "team": {"id": "T0DEMO0001", "domain": "demo"}, "user": USER,
               "api_app_id": "A0BACKUPBOT", "trigger_id": "1.2", "response_url": f"{slack_url}/response/1",
               "channel": {"id": "C0PLATFORM", "name": "platform"}, "actions": [APPROVE],
               "container": {"type": "message", "message_ts": "1.1", "channel_id": "C0PLATFORM"}, **parts}
    return "payload=" + quote(json.dumps(payload))


EVENT = {"type": "event_callback", "team_id": "T0DEMO0001", "api_app_id": "A0BACKUPBOT", "event_id": "Ev1",
         "event": {"type": "app_home_opened", "user": "U0ALICE001", "tab": "home"}}


@pytest.mark.parametrize("body", [
    lambda url: click(url, channel="C0PLATFORM"),
    lambda url: click(url, container="message"),
    lambda url: click(url, response_url=5),
    lambda url: click(url, type="message_action", message=5, channel=5),
    lambda url: json.dumps({**EVENT, "authorizations": "x"}),
    lambda url: json.dumps({**EVENT, "team_id": 5}),
], ids=["channel-text", "container-text", "response-url-number", "message-number", "authorizations-text",
        "team-id-number"])
def test_a_signed_payload_whose_context_has_the_wrong_type_is_answered_400_without_a_traceback(
        bot: Bot, server: str, planetscale: PlanetScaleState, body: Any,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """Bolt reads a request's team, channel, container, message and reply address before any listener: a signed
    body with text where Slack sends an object (or a number where it sends text) raised inside Bolt or in the work
    after the ack, a 500 or a traceback in the log, where it is a request Slack never sends: a 400 in words."""
    text = body(bot.slack_url)
    kind = "application/json" if text.startswith("{") else "application/x-www-form-urlencoded"
    answer = post(server, text, {**dict(signed_headers(SIGNING_SECRET, text)), "content-type": kind})  # type: ignore[arg-type]
    assert bot.executor.wait_idle(30)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert answer.status_code == 400, (answer.status_code, answer.text)


def serve_briefly(env: dict[str, str], cwd: Path, rules: str | None = None) -> subprocess.CompletedProcess[str]:
    """`serve` as an operator starts it: what it says before it stops, or within 20 s."""
    (cwd / "access.toml").write_text(rules or access_rules(0))
    try:
        return subprocess.run([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                               str(free_port())], env=env, cwd=cwd, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired as running:
        return subprocess.CompletedProcess(running.cmd, -1, "", str(running.stderr or b"", "utf-8", "replace"))


@pytest.mark.parametrize("url", ["postgresql://bot@db.internal:54x2/backups", "postgresql://bot@[::1/backups",
                                 "postgresql://bot@db.internal:/backups"])
def test_a_database_url_whose_port_cannot_be_read_is_refused_at_start_in_one_line(
        slack_server: Any, planetscale_server: Any, tmp_path: Path, url: str) -> None:
    """SQLAlchemy reads a URL's port only on first use, with `int()`: a mistyped port let `serve` start and run on
    with no database, a traceback every 2 seconds and every command failing. It is refused at start, in one line
    naming the setting and how to write it."""
    done = serve_briefly({**serve_env(slack_server, planetscale_server, url)}, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("backup-bot:")]
    assert line.startswith("backup-bot: BACKUP_BOT_DATABASE_URL is malformed") and "5432" in line


@pytest.mark.parametrize("rate", ["1" + "0" * 400 + "/min", "99999999999/s"])
def test_a_planetscale_rate_beyond_any_budget_is_refused_at_start_in_one_line(tmp_path: Path, rate: str) -> None:
    """A count of requests past a float's range broke the token bucket's arithmetic at start (an OverflowError's
    traceback from every command: migrate, serve, doctor); one far past any API's budget is a typo all the same."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, capture_output=True, text=True,
                          env={**keep, "BACKUP_BOT_PLANETSCALE_RATE": rate}, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.startswith("backup-bot: BACKUP_BOT_PLANETSCALE_RATE is malformed")
    assert len(done.stderr.strip().splitlines()) == 1 and "600/min" in done.stderr


@pytest.mark.parametrize("age", ["99999999999999w", "8d"])
def test_a_group_cache_age_past_a_week_is_refused_at_start_in_one_line(tmp_path: Path, age: str) -> None:
    """BACKUP_BOT_GROUP_CACHE_MAX_AGE is how long memberships read before Slack stopped listing groups still
    count: any length was taken, so a typo kept someone removed from @dba-leads approving for as long (for ever,
    in effect) while Slack could not list the groups."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, capture_output=True, text=True,
                          env={**keep, "BACKUP_BOT_GROUP_CACHE_MAX_AGE": age}, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.startswith("backup-bot: BACKUP_BOT_GROUP_CACHE_MAX_AGE is malformed")
    assert len(done.stderr.strip().splitlines()) == 1 and "7d" in done.stderr


def test_an_access_file_with_a_number_too_long_to_read_is_refused_at_start_with_its_line(
        slack_server: Any, planetscale_server: Any, tmp_path: Path, store_url: str) -> None:
    """tomllib raises a plain ValueError (not its TOMLDecodeError) for an integer past Python's 4,300 digits: at
    start a traceback, on reload "could not be read (ValueError)" with no line. It names the file and the line."""
    rules = access_rules(0) + "\n[[guardrails]]\norganizations = ['*']\ndatabases = ['*']\nmin_policies = " + "9" * 5000
    done = serve_briefly(serve_env(slack_server, planetscale_server, store_url), tmp_path, rules)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("backup-bot:")]
    last = len(rules.splitlines())
    assert line == (f"backup-bot: BACKUP_BOT_ACCESS_FILE: access.toml line {last}: a number too long to read; the "
                    "rules' numbers are small (approvals = 2).")


def test_a_setting_in_dotenv_with_an_unclosed_quote_is_refused_at_start_with_its_line(
        slack_server: Any, planetscale_server: Any, tmp_path: Path, store_url: str) -> None:
    """python-dotenv skips a line it cannot parse with a warning of its own: `BACKUP_BOT_WATCH_EVERY='off` started
    the bot with the watch on every 5 minutes, the operator's setting silently left at its default."""
    (tmp_path / ".env").write_text("BACKUP_BOT_LOG_LEVEL=INFO\nBACKUP_BOT_WATCH_EVERY='off\n")
    done = serve_briefly(serve_env(slack_server, planetscale_server, store_url), tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("backup-bot:")]
    assert line.startswith("backup-bot: .env line 2: BACKUP_BOT_WATCH_EVERY cannot be read (an unclosed quote?)")


APP_TOKEN = "xapp-1-A0BACKUPBOT-test"


def test_socket_mode_carries_on_past_broken_envelopes_and_a_dropped_connection(
        tmp_path: Path, slack: Any, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any) -> None:
    """Over Socket Mode the door's shape check is not in the way: envelopes whose payload has the wrong types, a
    frame cut off mid-envelope, and the connection dropped by Slack's side leave the process connected, a
    command after them acked and applied, and no traceback in the log."""
    slack.app_token = APP_TOKEN
    (tmp_path / "access.toml").write_text(access_rules(0))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_LOG_FORMAT": "text"}
    url = slack_server[1].url
    good = dict(parse_qsl(command("update acme/app-db bp03devday retention=9d", url)))
    clicked = json.loads(parse_qsl(click(url))[0][1])
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        with slack.lock:
            slack.socket_outbox.extend([
                socket_envelope("interactive", {**clicked, "channel": "C0PLATFORM"}, "bad-1"),
                socket_envelope("interactive", {**clicked, "container": 5, "team": "T0"}, "bad-2"),
                socket_envelope("interactive", "not an object", "bad-3"),  # type: ignore[arg-type]
                socket_envelope("slash_commands", {**good, "user_id": 5}, "bad-4"),
                '{"envelope_id": "cut", "type": "slash_commands", "payload": {"comm', CLOSE])
        wait_until(lambda: slack.socket_connections >= 2, "the app did not connect again after the drop")
        with slack.lock:
            slack.socket_outbox.append(socket_envelope("slash_commands", good, "good-1"))
        wait_until(lambda: any(a.get("envelope_id") == "good-1" for a in slack.socket_acks), "no ack")
        wait_until(lambda: any(e.kind == "message" for e in slack.events), "the change was not posted")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]
    logged = (tmp_path / "socket.log").read_text()
    assert "Failed to run listener" not in logged, logged[-3000:]  # slack_sdk logs a cut-off frame itself


def test_an_access_file_far_larger_than_any_rules_is_refused_at_start_without_being_read_whole(
        slack_server: Any, planetscale_server: Any, tmp_path: Path, store_url: str) -> None:
    """BACKUP_BOT_ACCESS_FILE pointed by mistake at a log or a dump was read whole into memory at start, and again
    at each reload while the bot runs, until the process was killed for it; it is refused in one line."""
    env = {**serve_env(slack_server, planetscale_server, store_url), "BACKUP_BOT_ACCESS_FILE": "dump.toml"}
    with open(tmp_path / "dump.toml", "wb") as dump:
        dump.truncate(200 * 2**20)  # sparse: no disk used
    done = serve_briefly(env, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("backup-bot:")]
    assert line == ("backup-bot: BACKUP_BOT_ACCESS_FILE: dump.toml is over 16 MB, far more than any rules: point "
                    "BACKUP_BOT_ACCESS_FILE at the rules file itself.")


@pytest.mark.parametrize(("name", "url"), [("PLANETSCALE_API_URL", "https://api.planetscale.com:99999/v1"),
                                           ("SLACK_API_URL", "https://[2001:db8::1/api/")])
def test_an_api_url_whose_port_or_host_cannot_be_read_is_refused_at_start_with_how_to_write_it(
        tmp_path: Path, name: str, url: str) -> None:
    """A port past 65535 was taken, and every command then tried PlanetScale four times before saying it could not
    be reached; an unclosed IPv6 bracket was refused as "Invalid IPv6 URL", with no word of how to write it."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, capture_output=True, text=True,
                          env={**keep, name: url}, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip() == f"backup-bot: {name} is malformed: it must be an http(s) URL such as https://host/path."


@pytest.mark.parametrize("body", ['{"type": "event_callback", "event": ' + "[" * 5000 + "]" * 5000 + "}",
                                  "payload=" + quote('{"type": "block_actions", "x": ' + "[" * 5000 + "]" * 5000
                                                     + "}")], ids=["json", "payload"])
def test_a_signed_body_nested_past_the_parsers_depth_is_answered_400_without_a_traceback(
        bot: Bot, server: str, body: str, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """JSON nested 5,000 deep fits in the 256 KB a body may take, and json.loads raises RecursionError (not a
    ValueError) on it: the door's shape check let it escape, a 500 and a traceback."""
    kind = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
    answer = post(server, body, {**dict(signed_headers(SIGNING_SECRET, body)), "content-type": kind})  # type: ignore[arg-type]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert answer.status_code == 400, (answer.status_code, answer.text)

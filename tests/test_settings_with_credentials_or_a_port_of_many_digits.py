"""An API URL holding a user and password (a proxy's, pasted with it) was taken, then shown whole: `doctor` printed
"Slack cannot be reached at https://bot:PASSWORD@…", `serve` logged "PlanetScale at https://…:PASSWORD@…", and
PlanetScale's "could not reach" errors repeated it to the person in Slack. The bot signs in with its tokens, so such
a URL is refused at start, in one line naming the setting and the fix, never repeating the password. A database
URL whose port has thousands of digits was refused with Python's own words about `sys.set_int_max_str_digits()`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PASSWORD = "s3cr3tPw0rd"
TOKENS = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "abcdef0123",
          "PLANETSCALE_SERVICE_TOKEN_ID": "tokenid", "PLANETSCALE_SERVICE_TOKEN": "pscale_tkn_x"}


def run(tmp_path: Path, command: str, **settings: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    env = {**keep, **TOKENS, "BACKUP_BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", **settings}
    return subprocess.run([sys.executable, "-m", "bot", command], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.mark.parametrize("command", ["doctor", "migrate"])
@pytest.mark.parametrize(("name", "url"), [("SLACK_API_URL", f"https://bot:{PASSWORD}@127.0.0.1:9/api/"),
                                           ("PLANETSCALE_API_URL", f"https://ps:{PASSWORD}@127.0.0.1:9/v1"),
                                           ("PLANETSCALE_API_URL", f"http://{PASSWORD}@127.0.0.1:9/v1")])
def test_an_api_url_with_a_user_or_password_is_refused_at_start_never_shown(
        tmp_path: Path, command: str, name: str, url: str) -> None:
    done = run(tmp_path, command, **{name: url})
    said = done.stdout + done.stderr
    assert PASSWORD not in said, said[-2000:]
    assert done.returncode == (1 if command == "doctor" else 2) and "Traceback" not in said, said[-2000:]
    assert f"{name} is malformed: it holds a user name or password" in said and "remove" in said, said[-2000:]


def test_a_database_port_of_thousands_of_digits_is_refused_in_the_bots_words(tmp_path: Path) -> None:
    done = run(tmp_path, "migrate", BACKUP_BOT_DATABASE_URL="postgresql://bot@db.internal:" + "5" * 5000 + "/backups")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "set_int_max_str_digits" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.startswith("backup-bot: BACKUP_BOT_DATABASE_URL is malformed: its host or port cannot be read")


@pytest.mark.parametrize("command", ["console", "migrate"])
@pytest.mark.parametrize(("name", "url"), [("PLANETSCALE_API_URL", "https://api.planet\u2603scale.com/v1"),
                                           ("PLANETSCALE_API_URL", "https://api.planetscale.com/v1\x01"),
                                           ("SLACK_API_URL", "https://slack\u00a0.com/api/"),
                                           ("PLANETSCALE_API_URL", "https://api..planetscale.com/v1"),
                                           ("SLACK_API_URL", "https://xn--.slack.com/api/"),
                                           ("PLANETSCALE_API_URL", f"https://{'a' * 64}.planetscale.com/v1")])
def test_an_api_url_no_http_client_can_send_to_is_refused_at_start_in_one_line(
        tmp_path: Path, command: str, name: str, url: str) -> None:
    """A host that is no IDNA name (a pasted no-break space, a stray symbol, an empty label `api..`, a label past 63
    characters, a malformed `xn--` label) or a control character (`.env` holds one where the environment cannot)
    passed the check, and `serve` and `console` then ended in httpx's traceback
    (InvalidURL) as they built their clients."""
    (tmp_path / ".env").write_text(f'{name}="{url}"\n', encoding="utf-8")
    done = run(tmp_path, command)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip() == f"backup-bot: {name} is malformed: it must be an http(s) URL such as https://host/path."


def test_a_database_password_holding_a_question_mark_is_taken_as_sqlalchemy_reads_it(tmp_path: Path) -> None:
    """SQLAlchemy reads `?` in a password as the password's (everything up to its `@`); the check read it as the
    start of the query, found no port, and refused at start a URL the bot used until this release."""
    url = f"postgresql://bot:{PASSWORD}?x@127.0.0.1:9/backups"
    done = run(tmp_path, "migrate", BACKUP_BOT_DATABASE_URL=url)
    assert "malformed" not in done.stderr and PASSWORD not in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("command", ["doctor", "migrate"])
@pytest.mark.parametrize(("name", "url"), [("SLACK_API_URL", f"https://127.0.0.1:9/api/?token={PASSWORD}"),
                                           ("PLANETSCALE_API_URL", f"https://127.0.0.1:9/v1?key={PASSWORD}"),
                                           ("PLANETSCALE_API_URL", f"https://127.0.0.1:9/v1#{PASSWORD}")])
def test_an_api_url_with_a_query_string_is_refused_at_start_never_shown(
        tmp_path: Path, command: str, name: str, url: str) -> None:
    """A secret in the query string (`?token=…`, a proxy's key pasted with the URL) was taken and shown wherever
    the URL is; and a base URL with a query or a fragment sends no call where it says. Refused as a password is."""
    done = run(tmp_path, command, **{name: url})
    said = done.stdout + done.stderr
    assert PASSWORD not in said, said[-2000:]
    assert done.returncode == (1 if command == "doctor" else 2) and "Traceback" not in said, said[-2000:]
    assert f"{name} is malformed: it holds a query string or a fragment" in said and "remove" in said, said[-2000:]


@pytest.mark.parametrize("command", ["doctor", "migrate"])
def test_a_database_password_holding_an_unescaped_at_sign_is_refused_never_shown(tmp_path: Path, command: str) -> None:
    """SQLAlchemy ends a password at its first `@` and takes the rest of it as the host's: `doctor` printed it as the
    database's place ("the database at s3cr3tPw0rd@127.0.0.1:9/backups"), and every failed connection logged it
    ("failed to resolve host 's3cr3tPw0rd@127.0.0.1'"). Refused at start, as a port it cannot read is."""
    done = run(tmp_path, command, BACKUP_BOT_DATABASE_URL=f"postgresql://bot:p@{PASSWORD}@127.0.0.1:9/backups")
    said = done.stdout + done.stderr
    assert PASSWORD not in said, said[-2000:]
    assert done.returncode == (1 if command == "doctor" else 2) and "Traceback" not in said, said[-2000:]
    assert "BACKUP_BOT_DATABASE_URL is malformed: its host or port cannot be read" in said and "%40" in said, \
        said[-2000:]

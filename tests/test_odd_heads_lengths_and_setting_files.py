"""Requests the front passes on that uvicorn reads otherwise, a Content-Length the front cannot read, an age
before the year one, and a dotenv or secret file that is a pipe."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, command, post, serve_env, start
from test_bad_clients import answer_to, served  # noqa: F401
from test_cli import run

from bot.emulators.serving import free_port
from bot.runtime.front import REQUEST_SECONDS

# The front splits a head's lines on CRLF only; h11 splits them on a bare LF too and folds an obsolete continuation
# line into the header above it. So the front sees `Content-Length: 0` and passes the head on as a whole request,
# while uvicorn sees `Content-Length: 100` and waits for a body that never comes, with no deadline on either side.
DESYNC = (b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-A: a\r\n Content-Length: 0\r\n"
          b"X-B: b\nContent-Length: 100\r\n\r\n")


@pytest.fixture
def few_files(tmp_path: Path, slack_server: Any, planetscale_server: Any) -> Iterator[tuple[int, str]]:
    (tmp_path / "access.toml").write_text(access_rules(0))
    port = free_port()
    process = start(serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"), tmp_path,
                    port, open_files=400)
    try:
        yield port, slack_url_of(slack_server)
    finally:
        process.terminate()
        process.wait(timeout=30)


def slack_url_of(slack_server: Any) -> str:
    return str(slack_server[1].url)


def closed(client: socket.socket, within: float) -> bool:
    client.settimeout(within)
    try:
        return client.recv(4096) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_slack_gets_through_while_heads_read_two_ways_are_held(few_files: tuple[int, str]) -> None:
    port, slack_url = few_files
    held: list[socket.socket] = []
    try:
        # Open such connections until the server has no file descriptor left to take one on.
        for _ in range(300):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(DESYNC)
            held.append(client)
            if closed(client, 0.2):
                break
        time.sleep(REQUEST_SECONDS + 6)  # past the front's bound on a request and uvicorn's keep-alive
        post(port, command("list acme/app-db", slack_url))
    finally:
        for client in held:
            client.close()


def test_a_content_length_of_5000_digits_is_answered_400_without_a_traceback(
        served: tuple[int, str], tmp_path: Path) -> None:  # noqa: F811
    port, slack_url = served
    head = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: " + b"1" * 5000 + b"\r\n\r\n"
    answer = answer_to(port, head)
    post(port, command("list acme/app-db", slack_url))
    assert answer.startswith(b"HTTP/1.1 4"), answer
    assert "Traceback" not in (tmp_path / "serve.log").read_text()



@pytest.mark.parametrize("args", [["prune", "--before", "3000y"], ["export", "--since", "999999w"]])
def test_an_age_before_the_year_one_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    assert run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL=url).returncode == 0
    done = run(["audit", *args], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert "Traceback" not in done.stderr and done.returncode == 2, done.stderr[-500:]


@pytest.mark.parametrize("which", [".env", "SLACK_BOT_TOKEN_FILE"])
def test_a_dotenv_or_secret_file_that_is_a_pipe_is_refused_in_words(tmp_path: Path, which: str) -> None:
    pipe = tmp_path / (".env" if which == ".env" else "token")
    os.mkfifo(pipe)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    if which != ".env":
        env[which] = str(pipe)
    try:
        done = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`doctor` still reading {which} (a pipe) after 20 s")
    assert "Traceback" not in done.stderr and "pipe" in (done.stdout + done.stderr).lower()


@pytest.mark.parametrize("command", ["migrate", "doctor"])
def test_a_secret_files_path_holding_a_nul_byte_is_refused_in_words(tmp_path: Path, command: str) -> None:
    """`.env` can hold a NUL byte (a file saved with NUL padding) where the environment cannot: a `*_FILE` path with
    one ended `migrate` and `doctor` in a traceback ("embedded null byte")."""
    (tmp_path / ".env").write_bytes(b"SLACK_BOT_TOKEN_FILE=/run/secrets/slack\x00token\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    said = done.stdout + done.stderr
    assert "Traceback" not in said and done.returncode != 0, said[-2000:]
    assert "SLACK_BOT_TOKEN_FILE cannot be read (a NUL byte in its path)" in said, said[-2000:]

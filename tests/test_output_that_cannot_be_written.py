"""A command whose standard output cannot be written (a full disk, a pipe its reader closed: `| head -1`) says so in
one line on stderr and ends non-zero, with no traceback; the console stops reading commands it cannot show the
answers of, and the emulator stops before serving with settings nobody saw. Before, `migrate`, `doctor`, `init`,
`audit prune` (after its delete was committed, so the count it deleted was lost), `console` and `emulator` ended
with a Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from processes import database_of_one_entry

from bot.adapters.store import Store
from bot.emulators.serving import free_port

COMMANDS = {
    "migrate": ["migrate"],
    "doctor": ["doctor"],
    "init": ["init", "starters"],
    "audit-prune": ["audit", "prune", "--before", "30d"],
    "console": ["console", "--demo"],
    "emulator": ["emulator", "--port", "PORT", "--slack-port", "PORT"],
}


def env_of(url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    return {**base, "BACKUP_BOT_DATABASE_URL": url}


def run_into(args: list[str], cwd: Path, url: str, where: str) -> tuple[int, str]:
    """`backup-bot ARGS` with its standard output on a full disk or on a pipe whose reader has gone."""
    command = [sys.executable, "-m", "bot", *args]
    stdin = "/backup-policy list acme/app-db\n/backup-policy help\n"
    if where == "a-full-disk":
        with open("/dev/full", "w") as full:
            done = subprocess.run(command, cwd=cwd, env=env_of(url), input=stdin, stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=90)
        return done.returncode, done.stderr
    process = subprocess.Popen(command, cwd=cwd, env=env_of(url), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.close()  # the reader gone before the first line
    _, err = process.communicate(stdin, timeout=90)
    return process.returncode, err


@pytest.mark.parametrize("where", ["a-full-disk", "a-closed-pipe"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path: Path, command: str,
                                                                   where: str) -> None:
    if where == "a-full-disk" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here to stand for a full disk")
    url = database_of_one_entry(tmp_path, "applied", "2020-01-01T00:00:00Z")
    status, err = run_into([str(free_port()) if a == "PORT" else a for a in COMMANDS[command]], tmp_path, url, where)
    assert status != 0, err
    assert "Traceback" not in err, err
    told = [line for line in err.splitlines() if line.startswith("backup-bot: standard output")]
    assert len(told) == 1, err
    assert "could not be written" in told[0], err
    if command == "audit-prune":  # what it did is done: the entry is gone, and the person is told so
        assert "was done" in told[0], err
        store = Store(url)
        assert list(store.events()) == []
        store.close()


CLOSED = {**COMMANDS, "audit-export": ["audit", "export"], "audit-scrub": ["audit", "scrub"]}


@pytest.mark.parametrize("command", list(CLOSED))
def test_a_closed_standard_output_is_one_line_and_nothing_is_done(tmp_path: Path, command: str) -> None:
    """Started with its standard output closed (`>&-`, a supervisor that closes it), each command ended in
    AttributeError's traceback, `audit prune` after its delete. Nothing it says could be read, so it does nothing
    and says so on stderr."""
    url = database_of_one_entry(tmp_path, "applied", "2020-01-01T00:00:00Z")
    args = [str(free_port()) if a == "PORT" else a for a in CLOSED[command]]
    done = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "bot", *args], cwd=tmp_path,
                          env=env_of(url), input="/backup-policy help\n", stderr=subprocess.PIPE, text=True,
                          timeout=90)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    named = " ".join(CLOSED[command][:2]) if command.startswith("audit") else CLOSED[command][0]
    assert done.stderr.splitlines() == [
        f"backup-bot: standard output is closed, so what `{named}` says would be lost: it did nothing; run it with "
        "its output open (a file, a pipe, or >/dev/null to discard it)."], done.stderr
    store = Store(url)
    assert len(list(store.events())) == 1  # the prune deleted nothing
    store.close()

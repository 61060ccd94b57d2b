"""`audit export` and `audit prune` given a value that starts with `-` (`--since -1d`, `--before -1d`) or an option
the subcommand has not (`audit export --before`), and `audit export | head -1`: each is said plainly in one line,
naming what is wrong and what to write, never argparse's usage and "expected one argument"; a reader that stops
reading is a normal end (exit 141 as `yes | head -1`, or 0, with nothing on stderr), not an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent


def env_of(url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    return {**base, "BACKUP_BOT_DATABASE_URL": url}


def trail(tmp_path: Path, entries: int = 1) -> str:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    for _ in range(entries):
        store.record(AuditEvent(action="applied", actor="U0ALICE001", organization="acme", database="app-db",
                                at="2020-01-01T00:00:00Z"))
    store.close()
    return url


@pytest.mark.parametrize(("args", "said"), [
    (["audit", "export", "--since", "-1d"], "`-1d` is not a time"),
    (["audit", "export", "--until", "-30d"], "`-30d` is not a time"),
    (["audit", "prune", "--before", "-1d"], "`-1d` is not an age"),
    (["audit", "export", "--before", "-1d"], "audit export has no --before"),
    (["emulator", "--port", "-1"], "`-1` is not a port number"),
    # argparse takes an option's unambiguous abbreviation: so does the reading of a value starting with `-`
    (["audit", "export", "--sin", "-1d"], "`-1d` is not a time"),
    (["audit", "prune", "--bef", "-1d"], "`-1d` is not an age"),
])
def test_an_odd_option_is_said_plainly(tmp_path: Path, args: list[str], said: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env_of(trail(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr, done.stderr
    assert "usage:" not in done.stderr and "expected one argument" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("read", [0, 1])
def test_an_export_into_a_pipe_its_reader_closed_ends_quietly(tmp_path: Path, read: int) -> None:
    url = trail(tmp_path, entries=5000)
    process = subprocess.Popen([sys.executable, "-m", "bot", "audit", "export"], cwd=tmp_path, env=env_of(url),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    if read:
        assert process.stdout.readline().startswith(b"{")
    process.stdout.close()  # `| true`, `| head -1`
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, 141), err  # Python may end a write cut short as written whole
    assert err == ""

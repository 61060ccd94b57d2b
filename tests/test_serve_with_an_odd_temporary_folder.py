"""`serve` talks to uvicorn over a Unix socket in a folder it makes under TMPDIR. A TMPDIR of a long path (a socket's
path holds at most 107 bytes) ended the start in uvicorn's and Starlette's tracebacks and then "cannot serve on
127.0.0.1:PORT: AF_UNIX path too long", which names the TCP port that was free; a TMPDIR (and every other
temporary folder) that takes no new folder, as on a read-only file system, ended it in a traceback. Each now stops
the start with one line naming TMPDIR and the fix, before anything has started."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, serve_env, serve_to_its_end

from bot.runtime.front import socket_folder
from bot.runtime.settings import SettingsError


def test_a_temporary_folder_too_long_for_a_socket_stops_serve_with_one_line(
    tmp_path: Path, slack_server: Any, planetscale_server: Any
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))
    long = tmp_path / ("d" * 120)
    long.mkdir()
    env = serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}")
    done = serve_to_its_end({**env, "TMPDIR": str(long)}, tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("backup-bot:")]
    assert line.startswith("backup-bot: TMPDIR is too long a path for serve's socket"), line
    assert "set TMPDIR to a shorter folder" in line
    assert list(long.iterdir()) == []  # nothing left behind


def test_no_folder_for_the_socket_is_one_line() -> None:
    def no_folder() -> str:  # as tempfile.mkdtemp says it where no temporary folder takes a new one
        raise FileNotFoundError(2, "No usable temporary directory found in ['/tmp', '/var/tmp', '/usr/tmp', '/app']")

    with pytest.raises(SettingsError) as refused:
        socket_folder(make=no_folder)
    [line] = refused.value.problems
    assert line.startswith("TMPDIR: serve could not make a folder for its socket (No usable temporary directory "
                           "found"), line
    assert "set TMPDIR to a folder it may write in" in line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's bound on a socket's path (macOS's is 103)")
def test_a_socket_path_linux_takes_is_not_refused(tmp_path: Path) -> None:
    """A socket's path of 104 to 107 bytes binds on Linux, and used to be refused as too long (macOS's bound)."""
    import socket

    folder = tmp_path / ("d" * (105 - len(str(tmp_path)) - 1 - len("/uvicorn.sock")))
    folder.mkdir()
    path = str(folder / "uvicorn.sock")
    assert len(path.encode()) == 105
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(path)  # Linux takes it
    Path(path).unlink()
    assert socket_folder(make=lambda: str(folder)) == str(folder)

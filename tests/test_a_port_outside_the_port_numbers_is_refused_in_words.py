"""A port option outside 1–65535 (a typo: `--port 70000`) is refused in one line naming it before anything
starts, as `$PORT` is. Before, `serve --port 70000` served on port 4464 (70000 folded past 65535) while its log
said 70000, `emulator --port` did the same while printing a URL of the port asked, and `socket --health-port` and
`emulator --slack-port` ended with a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.emulators.serving import free_port


@pytest.mark.parametrize("args", [
    ["serve", "--port", "70000"],
    ["serve", "--port", "0"],
    ["serve", "--port", "-5"],
    ["socket", "--health-port", "70000"],
    ["emulator", "--port", "70000"],
    ["emulator", "--port", "FREE", "--slack-port", "65536"],
], ids=["serve-past-65535", "serve-0", "serve-below-0", "socket-health-port", "emulator", "emulator-slack-port"])
def test_a_port_no_socket_can_have_is_refused_naming_it(tmp_path: Path, args: list[str]) -> None:
    args = [str(free_port()) if a == "FREE" else a for a in args]
    try:
        done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`backup-bot {' '.join(args)}` went on running: it listens on a port nobody named")
    option, value = args[-2], args[-1]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"argument {option}: `{value}` is not a port number (1–65535)" in done.stderr, done.stderr

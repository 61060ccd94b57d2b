"""`backup-bot emulator --slack-port P` where P is taken (a second rehearsal beside the first): one line naming the
port and what to do, a non-zero status, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from bot.emulators.serving import free_port


def test_a_slack_port_in_use_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "bot", "emulator", "--port", str(free_port()),
                               "--slack-port", str(port)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert f"--slack-port {port}" in done.stderr and "choose another port" in done.stderr, done.stderr

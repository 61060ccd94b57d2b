"""`backup-bot emulator --slack-port P` where P is taken (a second rehearsal beside the first), or `--host` a host it
cannot listen on (not this machine's, or no such host): one line naming the port or host and what to do, a non-zero
status, no traceback, and no settings shown for an emulator that never listened."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(("host", "reason"), [("192.0.2.1", "not an address of this machine"),
                                              ("no-such-host.invalid", "no such host")])
def test_a_host_it_cannot_listen_on_is_one_line_before_any_setting(tmp_path: Path, host: str, reason: str) -> None:
    """Before, the emulator printed the settings to point the bot at it, then failed in uvicorn's words."""
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "bot", "emulator", "--host", host, "--port", str(port)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "", "the settings of an emulator that never listened"
    told = done.stderr.strip().splitlines()
    assert len(told) == 1, done.stderr
    assert told[0].startswith(f"backup-bot: --host {host}: the emulator cannot listen on {host}:{port} ("), told[0]
    assert reason in told[0] and "choose" in told[0], told[0]


def test_one_port_for_both_emulators_is_one_line_before_any_setting(tmp_path: Path) -> None:
    """`--slack-port` the same as `--port`: each port was free when checked, so the settings of both emulators were
    shown, and then PlanetScale's failed to listen on the port Slack's had taken, in uvicorn's words (status 3)."""
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "bot", "emulator", "--port", str(port), "--slack-port", str(port)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "", "the settings of an emulator that never listened"
    [told] = done.stderr.strip().splitlines()
    assert told.startswith(f"backup-bot: --slack-port {port}: ") and "--port" in told, told

"""`backup-bot console` fed a line that is not UTF-8 (a Latin-1 `é` piped in): that line is answered, naming
what is wrong, and the session carries on with the next; the console is not knocked over with a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from processes import wait_until

from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, Fault, PlanetScaleState


def on_the_demo(tmp_path: Path, lines: bytes) -> str:
    """What `backup-bot console --demo` printed for `lines` piped in; it ended well, with no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "console", "--demo"], input=lines, capture_output=True,
                          cwd=tmp_path, env=env, timeout=120)
    out, err = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err
    assert "Traceback" not in err + out
    return out


def test_a_line_that_is_not_utf8_is_answered_and_the_next_line_still_runs(tmp_path: Path) -> None:
    out = on_the_demo(tmp_path, b'/backup-policy update acme/app-db bp03devday retention=4d reason="caf\xe9"\n'
                                b"/backup-policy list acme/app-db\n")
    assert "not UTF-8" in out
    assert "Development daily" in out, "the line after it did not run"


def test_control_characters_typed_or_piped_reach_the_terminal_shown_not_obeyed(tmp_path: Path) -> None:
    """A line holding a terminal's escape sequence (ESC [2J clears the screen), a bell or a backspace, piped into
    the console, was echoed and answered with those bytes as they were: the terminal obeyed them, clearing the
    screen or hiding what was typed. They are shown as visible escapes, and the line is still answered in words."""
    out = on_the_demo(tmp_path, b'/backup-policy show acme/app-db "bp03\x1b[2Jdev\x07day\x08"\n'
                                b"as \x1b]0;owned\x07bob\n"
                                b"/backup-policy list acme/app-db\n")
    assert not any(ch in out for ch in "\x1b\x07\x08"), out
    assert "\\x1b[2J" in out, out  # shown, so the person sees what they sent
    assert "No user" in out and "Development daily" in out, out


def test_ctrl_c_while_planetscale_holds_a_call_stops_the_console_at_once_and_says_so(
        tmp_path: Path, planetscale_server: Any, planetscale: PlanetScaleState) -> None:
    """Ctrl-C while a PlanetScale call is held: the console said nothing and waited for every try of the call
    (about a minute) before it left. It says what happened and leaves, not waiting for the call."""
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, method="GET", path_contains="backup-policies", times=None))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_", "BACKUP_BOT_"))}
    env.update(PLANETSCALE_API_URL=planetscale_server[1].url + "/v1", PLANETSCALE_SERVICE_TOKEN_ID=DEMO_TOKEN_ID,
               PLANETSCALE_SERVICE_TOKEN=DEMO_TOKEN, BACKUP_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}")
    # A child started in the background inherits SIGINT ignored, and Python then leaves it so: Ctrl-C as a
    # terminal sends it needs Python's own handler.
    console = subprocess.Popen([sys.executable, "-m", "bot", "console"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert console.stdin is not None
        console.stdin.write(b"/backup-policy list acme/app-db\n")
        console.stdin.flush()
        wait_until(lambda: any("backup-policies" in c.path for c in planetscale.calls("GET")),
                   "the console's call to PlanetScale", 120)
        console.send_signal(signal.SIGINT)
        # Well inside the held call's own minute: the console did not wait for it.
        out, err = console.communicate(timeout=30)
    finally:
        held.set()
        if console.poll() is None:
            console.kill()
            console.communicate()
    text = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
    assert console.returncode == 130, text
    assert "Traceback" not in text, text
    assert "Interrupted" in text and "PlanetScale" in text, text


def test_a_closed_standard_input_is_the_end_of_input(tmp_path: Path) -> None:
    """Started with its standard input closed (`<&-`, a job runner that closes it), the console ended in
    AttributeError's traceback; it is input that has ended, as `< /dev/null` is: the console leaves as at its end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_"))}
    done = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh", sys.executable, "-m", "bot", "console", "--demo"],
                          capture_output=True, cwd=tmp_path, env=env, timeout=120, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip(), "the console said nothing"

"""`backup-bot console` fed a line that is not UTF-8 (a Latin-1 `é` piped in): that line is answered, naming
what is wrong, and the session carries on with the next; the console is not knocked over with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_line_that_is_not_utf8_is_answered_and_the_next_line_still_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_"))}
    lines = (b'/backup-policy update acme/app-db bp03devday retention=4d reason="caf\xe9"\n'
             b"/backup-policy list acme/app-db\n")
    done = subprocess.run([sys.executable, "-m", "bot", "console", "--demo"], input=lines, capture_output=True,
                          cwd=tmp_path, env=env, timeout=120)
    out, err = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err
    assert "Traceback" not in err + out
    assert "not UTF-8" in out
    assert "Development daily" in out, "the line after it did not run"


def test_control_characters_typed_or_piped_reach_the_terminal_shown_not_obeyed(tmp_path: Path) -> None:
    """A line holding a terminal's escape sequence (ESC [2J clears the screen), a bell or a backspace, piped into
    the console, was echoed and answered with those bytes as they were: the terminal obeyed them, clearing the
    screen or hiding what was typed. They are shown as visible escapes, and the line is still answered in words."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_"))}
    lines = (b'/backup-policy show acme/app-db "bp03\x1b[2Jdev\x07day\x08"\n'
             b"as \x1b]0;owned\x07bob\n"
             b"/backup-policy list acme/app-db\n")
    done = subprocess.run([sys.executable, "-m", "bot", "console", "--demo"], input=lines, capture_output=True,
                          cwd=tmp_path, env=env, timeout=120)
    out, err = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err
    assert "Traceback" not in err + out
    assert not any(ch in out for ch in "\x1b\x07\x08"), out
    assert "\\x1b[2J" in out, out  # shown, so the person sees what they sent
    assert "No user" in out and "Development daily" in out, out

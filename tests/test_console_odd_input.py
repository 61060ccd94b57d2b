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

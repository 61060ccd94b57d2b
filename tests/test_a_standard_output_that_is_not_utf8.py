"""Standard output in an encoding other than UTF-8 (a Latin-1 or ASCII locale, `PYTHONIOENCODING=latin-1`): the
console, `init` and `audit export --format csv` wrote a character that encoding lacks (`→`, `⏳`, a `☃` in a reason)
and ended in a UnicodeEncodeError traceback, the export cut where it stood. The export is now written in UTF-8, as
its `-o` file is (CSV and JSON are UTF-8), and what the commands say to people reaches them with such a character
written as an escape (`\\u2192`), never a traceback; and the console read a typed byte that encoding lacks (ASCII's
`ö`) as a traceback too, which it now reads as UTF-8 mode does and answers in words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent


def environment(encoding: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    return {**env, "PYTHONIOENCODING": encoding, **more}


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_the_csv_export_is_utf8_whatever_standard_outputs_encoding(tmp_path: Path, encoding: str) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    store.record(AuditEvent(action="requested", actor="U0ALICE001", organization="acme", database="app-db",
                            at="2026-01-10T00:00:00Z", reason="☃ kept 30 days → 60"))
    store.close()
    done = subprocess.run([sys.executable, "-m", "bot", "audit", "export", "--format", "csv"], cwd=tmp_path,
                          env=environment(encoding, BACKUP_BOT_DATABASE_URL=url), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert "☃ kept 30 days → 60" in done.stdout.decode("utf-8")


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_the_console_and_init_say_what_they_say_without_a_traceback(tmp_path: Path, encoding: str) -> None:
    console = subprocess.run([sys.executable, "-m", "bot", "console", "--demo"], cwd=tmp_path,
                             input='/backup-policy update acme/app-db bp03devday retention=6d\n'
                                   '/backup-policy show acme/app-db "Prödüction"\n'.encode(),
                             env=environment(encoding), capture_output=True, timeout=120)
    said = console.stdout.decode(encoding)
    assert console.returncode == 0 and b"Traceback" not in console.stderr, console.stderr.decode()[-2000:]
    assert "changed the backup policy" in said and "\\u2192" in said, said[-2000:]
    # Latin-1 reads any byte (as other letters); ASCII leaves the typed bytes undecoded, which the console names.
    assert ("No backup policy in acme/app-db has the ID or exact name" if encoding == "latin-1"
            else "That line is not UTF-8 text") in said, said[-2000:]
    init = subprocess.run([sys.executable, "-m", "bot", "init", str(tmp_path / "new")], cwd=tmp_path,
                          env=environment(encoding), capture_output=True, timeout=60)
    assert init.returncode == 0 and b"Traceback" not in init.stderr, init.stderr.decode()[-2000:]

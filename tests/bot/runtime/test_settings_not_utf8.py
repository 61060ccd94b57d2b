"""A setting in the environment holding bytes that are not UTF-8 (a shell or an env file in another encoding):
Python reads them as lone surrogates, and reading the settings raised inside pydantic, so `doctor`, `migrate` and
every other command ended in a traceback naming no variable. Each is one line naming the variable (never its
value, which may be a secret) and the fix, beside the other problems: `migrate` exits 2 as for any bad setting,
`doctor` 1 as for any problem it finds."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import run

NAMES = ["BACKUP_BOT_WATCH_EVERY", "BACKUP_BOT_LOG_LEVEL", "PORT", "SLACK_BOT_TOKEN"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("command", "status"), [(["migrate"], 2), (["doctor"], 1)], ids=["migrate", "doctor"])
def test_a_setting_that_is_not_utf8_is_named_in_one_line(tmp_path: Path, name: str, command: list[str],
                                                         status: int) -> None:
    done = run(command, tmp_path, BACKUP_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
               **{name: "x\udcffy"})
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    told = [line for line in (done.stdout + done.stderr).splitlines() if "UTF-8" in line]
    assert told and name in told[0] and "set it again in UTF-8" in told[0], done.stdout + done.stderr
    assert "x\udcffy" not in done.stdout + done.stderr

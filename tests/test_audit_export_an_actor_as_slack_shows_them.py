"""`audit export --actor` given a person as the bot and Slack show them (`@U0ALICE001` in the trail's words and
history, `<@U0ALICE001>` copied from a message, `u0alice001` typed in lowercase) exported nothing, with no word why,
as if they had done nothing: each now exports their entries, as `U0ALICE001` does. The bot's own actors
(`backup-bot`, `outside-the-bot`) are matched as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from processes import database_of_one_entry


@pytest.mark.parametrize("given", ["U0ALICE001", "@U0ALICE001", "<@U0ALICE001>", "<@U0ALICE001|alice>",
                                   "u0alice001", " @u0alice001 "])
def test_an_actor_written_as_slack_shows_them_exports_their_entries(tmp_path: Path, given: str) -> None:
    url = database_of_one_entry(tmp_path, "requested", "2026-01-10T00:00:00Z")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "audit", "export", "--actor", given], cwd=tmp_path,
                          env={**env, "BACKUP_BOT_DATABASE_URL": url}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["actor"] == "U0ALICE001"


def test_another_actor_exports_none_of_theirs(tmp_path: Path) -> None:
    url = database_of_one_entry(tmp_path, "requested", "2026-01-10T00:00:00Z")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    for given in ("U0BOB00001", "backup-bot", "@backup-bot"):
        done = subprocess.run([sys.executable, "-m", "bot", "audit", "export", "--actor", given], cwd=tmp_path,
                              env={**env, "BACKUP_BOT_DATABASE_URL": url}, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout == "", done.stderr

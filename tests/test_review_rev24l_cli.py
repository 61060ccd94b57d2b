"""Review rev24l of issue 24: `audit export --since/--until` with a time whose offset carries it past the years a
datetime holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import run


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_a_time_whose_offset_leaves_the_calendar_is_answered_in_words(tmp_path: Path, flag: str, when: str) -> None:
    """A well-formed ISO 8601 time whose offset moves it past year 9999 (or before year 1) in UTC: entry_time's
    astimezone raised OverflowError, so the export ended in a traceback (exit 1) rather than a usage answer."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    assert run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL=url).returncode == 0
    done = run(["audit", "export", flag, when], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2 and done.stderr.startswith(f"backup-bot: `{when}`"), done.stderr

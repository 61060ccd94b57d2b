"""`backup-bot audit prune` that would delete entries younger than the year README advises keeping (`--before 0d`, a
mistyped `--before 30d` for `300d`): it deletes nothing, says how many entries it would delete and how many of them
are from the last year, and asks for `--yes`. Before, it deleted them without a word but the count."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from processes import database_of_one_entry
from test_audit_prune_in_batches import NOW, a_trail, reasons_left
from test_cli import run

from bot.runtime import audit_commands
from bot.runtime.settings import SettingsError

EVERY = [str(n) for n in range(10)] + ["new"]


def prune(url: str, monkeypatch: pytest.MonkeyPatch, before: str, yes: bool = False) -> str:
    monkeypatch.setenv("BACKUP_BOT_DATABASE_URL", url)
    out = io.StringIO()
    assert audit_commands.main("prune", {"before": before, "yes": yes}, now=NOW, out=out) == 0
    return out.getvalue()


def test_a_prune_of_entries_from_the_last_year_deletes_nothing_without_yes_and_says_how_many(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    a_trail(store_url, 10)  # ten of 2024 (two of them of an open request, kept), one of yesterday
    with pytest.raises(SettingsError) as refused:
        prune(store_url, monkeypatch, "0d")
    told = str(refused.value)
    assert told.startswith("--before 0d would delete 9 audit entries older than 2026-06-01T00:00:00Z, 1 of them "
                           "from the last 365 days"), told
    assert "nothing was deleted" in told and "--yes" in told and "--before 365d" in told, told
    assert reasons_left(store_url) == EVERY
    said = prune(store_url, monkeypatch, "0d", yes=True)
    assert said.startswith("Deleted 9 audit entries older than 2026-06-01T00:00:00Z."), said
    assert reasons_left(store_url) == ["7", "8"]


def test_a_prune_within_the_year_that_meets_no_recent_entry_goes_on_without_yes(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--before 30d` deletes only the 2024 entries here: nothing from the last year is lost, so nothing is asked."""
    monkeypatch.chdir(tmp_path)
    a_trail(store_url, 10)
    said = prune(store_url, monkeypatch, "30d")
    assert said.startswith("Deleted 8 audit entries older than 2026-05-02T00:00:00Z."), said
    assert reasons_left(store_url) == ["7", "8", "new"]


def test_the_command_line_takes_yes(tmp_path: Path) -> None:
    # A minute old: an entry of this very second is not older than `--before 0d` reckoned within that second.
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = database_of_one_entry(tmp_path, "requested", a_minute_ago)
    asked = run(["audit", "prune", "--before", "0d"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert asked.returncode == 2 and asked.stdout == "", (asked.stdout, asked.stderr)
    assert asked.stderr.startswith("backup-bot: --before 0d would delete 1 audit entry older than "), asked.stderr
    assert len(asked.stderr.strip().splitlines()) == 1, asked.stderr
    done = run(["audit", "prune", "--before", "0d", "--yes"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert done.returncode == 0 and done.stdout.startswith("Deleted 1 audit entry older than "), done.stderr

"""`audit export --since 2026-02-01t00:00:00z`: RFC 3339 allows a lowercase `t` and `z`, and PlanetScale's times may
come so; the export took only `Z` and refused the time as "not a time"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent


@pytest.mark.parametrize("since", ["2026-02-01t00:00:00z", "2026-02-01T00:00:00.000000000z", "2026-02-01T00:00:00Z"])
def test_a_time_with_a_lowercase_zone_or_nine_digits_of_a_second_filters_the_export(tmp_path: Path,
                                                                                     since: str) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    assert run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL=url).returncode == 0
    store = Store(url)
    for action, at in (("requested", "2026-01-15T00:00:00Z"), ("applied", "2026-02-15T00:00:00Z")):
        store.record(AuditEvent(action=action, actor="U0ALICE001", organization="acme", database="app-db", at=at))
    store.close()
    done = run(["audit", "export", "--since", since], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["action"] for line in done.stdout.splitlines()] == ["applied"]

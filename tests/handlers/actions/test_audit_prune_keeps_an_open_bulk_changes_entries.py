"""`audit prune` keeps the entries of a request still open; a bulk change waiting for approval is one too, but its
`requested` entries, which name no request, were deleted with the rest, so that the change, approved later, stood
on the trail without its asking. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from bulk_helpers import ask_bulk_of_two
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime import audit_commands


def test_a_waiting_bulk_changes_entries_outlive_a_prune(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale, "one")
    assert len(bot.deps.store.open_batches()) == 1
    kept = [(e.action, e.policy_id) for e in bot.audit.all()]
    assert ("requested", "one-0-prod") in kept, kept
    monkeypatch.setenv("BACKUP_BOT_DATABASE_URL", bot.deps.store.url)
    out = io.StringIO()
    assert audit_commands.main("prune", {"before": "1h"}, now=datetime.now(UTC) + timedelta(hours=2), out=out) == 0
    assert [(e.action, e.policy_id) for e in bot.audit.all()] == kept, out.getvalue()
    assert "Deleted 0 audit entries" in out.getvalue()

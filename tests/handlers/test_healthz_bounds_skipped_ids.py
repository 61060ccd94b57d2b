"""What /healthz and the log say of a pass that skipped PlanetScale's bad data."""

from __future__ import annotations

import json
import logging

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher

# A few kilobytes say what was skipped and why; a report or a log line of megabytes is the bad data itself.
MOST_SAID = 64 * 1024


def test_a_skipped_policy_with_an_id_of_megabytes_is_not_repeated_whole_by_healthz_or_the_log(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    """A policy PlanetScale lists with an ID of 4 MB and a unit no one knows is skipped, rightly; but /healthz
    repeated its whole ID to every checker every few seconds (serialized on the event loop that reads Slack's
    requests), and each pass logged it whole again (4 MB a pass into the log)."""
    bot, watcher = watched
    watcher.run_once()
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bp" + "x" * 4 * 2**20, frequency_unit="fortnight")
    caplog.set_level(logging.INFO)
    result = watcher.run_once()
    assert result is not None and result.skipped, "the bad policy was not skipped"
    report = health_report(bot.deps, watcher)
    assert report["status"] == "ok" and report.get("watch_skipped")
    assert len(json.dumps(report)) < MOST_SAID, f"/healthz says {len(json.dumps(report))} bytes"
    longest = max(len(r.getMessage()) for r in caplog.records)
    assert longest < MOST_SAID, f"a log line of {longest} bytes"

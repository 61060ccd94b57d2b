"""A backup PlanetScale lists as finished at a time still to come (year 9999, or days ahead of any clock's drift)
proves nothing about a policy's health: read as its last success, it kept a policy whose backups fail
'healthy' for ever, and the watch said nothing. Such a list is PlanetScale's error, in words: the watch tells it
once as skipped (and /healthz lists it), and `status` says main's backups could not be read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Bot
from watch_helpers import AUDIT, approvals_bot, watched

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE

__all__ = ["approvals_bot", "watched"]  # fixtures, used by name


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def backup(backup_id: str, state: str, at: str) -> dict[str, object]:
    return {"id": backup_id, "state": state, "size": 1_000, "created_at": at, "started_at": at,
            "completed_at": at, "expires_at": "9999-12-31T23:59:59Z"}


@pytest.mark.parametrize("future", ["9999-12-31T23:59:59-14:00",
                                    stamp(datetime.now(UTC) + timedelta(days=3))], ids=["year 9999", "in 3 days"])
def test_a_success_dated_in_the_future_hides_no_failing_backups(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, future: str) -> None:
    bot, watcher = watched
    watcher.run_once()  # the baseline
    listed = [backup("bkfailed", "failed", stamp(datetime.now(UTC) - timedelta(hours=1))),
              backup("bkfuture", "success", future)]
    planetscale.add_fault(Fault(status=200, body=json.dumps({"type": "list", "current_page": 1, "next_page": None,
                                                             "prev_page": None, "data": listed}),
                                times=None, path_contains="/branches/main/backups"))
    # A change in the dashboard: the policy's backups are read again at the next pass.
    planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=3)
    _, cursor = bot.slack.events_since(0)
    watcher.run_once()
    events, _ = bot.slack.events_since(cursor)
    said = json.dumps([e.blocks for e in events if e.channel == AUDIT], ensure_ascii=False)
    told = [e.text for e in events if e.channel == AUDIT and e.kind == "message"]
    assert SKIPPED_HEADLINE in told, told
    assert "in the future" in said, said
    assert any("in the future" in s for s in health_report(bot.deps, watcher).get("watch_skipped", []))
    reply = bot.command("status acme/app-db")
    shown = json.dumps([e.blocks for e in reply.events], ensure_ascii=False)
    assert ":warning: *Production daily*" in shown and "Backups of main could not be read" in shown, shown

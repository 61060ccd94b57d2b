"""A production branch whose backups the watch can never read (a name no path of PlanetScale's holds, a backup
list it cannot read, a token without access to it) while the database's other branches read: the pass carries on
and says once what it skipped and why (log, /healthz, the audit channel), the branch's name shown as written.
Through Bolt's pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE

PROD = "bp01prod12h"


def skipped_told(bot: Bot) -> list[str]:
    return [json.dumps(e.blocks) for e in bot.slack.events if e.text == SKIPPED_HEADLINE]


@pytest.mark.parametrize(("branch", "fault", "shown"), [
    ("<@U0EVIL0001>", None, "U0EVIL0001&gt;"),  # no path holds it: never sent; its `@` shown plain
    ("replica", Fault(status=200, times=None, path_contains="/branches/replica/backups", body="not json"),
     "replica"),
    ("replica", Fault(status=403, times=None, path_contains="/branches/replica/backups"), "replica"),
])
def test_a_production_branch_whose_backups_cannot_be_read_is_told_once_and_the_rest_watched(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, branch: str, fault: Fault | None,
        shown: str) -> None:
    bot, watcher = watched
    planetscale.add_branch("acme", "app-db", branch, production=True)
    if fault is not None:
        planetscale.add_fault(fault)
    watcher.run_once()
    watcher.run_once()
    planetscale.fail_backup("acme", "app-db", PROD)  # on main, which reads: told as ever
    watcher.run_once()
    posted = [e.text for e in bot.slack.events if e.kind == "message"]
    assert any(p.startswith(":rotating_light:") and "Production daily" in p for p in posted), posted
    told = skipped_told(bot)
    assert len(told) == 1 and shown in told[0], told
    assert "<@U0EVIL" not in told[0]
    report = health_report(bot.deps, watcher)
    assert any("app-db" in s and branch in s for s in report.get("watch_skipped", [])), report

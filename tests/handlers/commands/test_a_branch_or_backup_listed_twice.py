"""PlanetScale's list holds a branch or a backup twice (as a list read page by page while it shifts does):
`status` counted each failed backup twice ("Failures in 7 days: 2" for one), and `status` and the watch read a
branch's backups twice. Each is read once, the later listing standing (review rev22a). Through Bolt's signed
pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.watch import Watcher


def branches_listed_twice(planetscale: PlanetScaleState) -> None:
    """app-db's branches, each listed twice."""
    with planetscale.lock:
        listed = list(planetscale.branches[("acme", "app-db")])
    planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends="/app-db/branches", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": listed + listed})))


def test_a_branch_listed_twice_has_its_failures_counted_and_its_backups_read_once(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.fail_backup("acme", "app-db", PROD)
    branches_listed_twice(planetscale)
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    assert "*Failures in 7 days:* 1 (last" in said and "*Failures in 7 days:* 2" not in said, said
    reads = [c for c in planetscale.calls("GET") if c.path.endswith("/branches/main/backups")]
    assert len({json.dumps(c.query, sort_keys=True) for c in reads}) == len(reads), reads


def test_the_watch_reads_a_branch_listed_twice_once_and_tells_its_failure_once(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watcher.run_once()
    planetscale.fail_backup("acme", "app-db", PROD)
    branches_listed_twice(planetscale)
    _, cursor = bot.slack.events_since(0)
    before = len(planetscale.calls("GET"))
    watcher.run_once()
    events, _ = bot.slack.events_since(cursor)
    told = [e for e in events if e.kind == "message" and e.text.startswith(":rotating_light:")]
    assert len(told) == 1, [e.text for e in events]
    reads = [c for c in planetscale.calls("GET")[before:] if c.path.endswith("/app-db/branches/main/backups")]
    assert len({json.dumps(c.query, sort_keys=True) for c in reads}) == len(reads), reads


def test_a_backup_listed_twice_is_counted_once(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    failed = planetscale.fail_backup("acme", "app-db", PROD)
    with planetscale.lock:
        listed = [b for b in planetscale.backups[("acme", "app-db", "main")] if b["backup_policy"]["id"] == PROD]
    planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends="/main/backups", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": [*listed, failed]})))
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    assert "*Failures in 7 days:* 1 (last" in said and "*Failures in 7 days:* 2" not in said, said

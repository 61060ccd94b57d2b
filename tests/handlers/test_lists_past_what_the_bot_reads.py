"""A database or branch list PlanetScale pages past the 5,000 items the bot reads of one is never taken for whole:
an organization of 5,003 databases, a database of 5,003 branches. The watch carries on with those read and tells
the rest as unread (the audit channel once, /healthz); `status` says so of each policy's health; a bulk change or
an export naming databases by a pattern asks nothing. And `status` makes a bounded number of requests in all."""

from __future__ import annotations

import json
from collections.abc import Callable

from approval_helpers import ALICE, RULES
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import skipped_said, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.domain.backup_health import MAX_STATUS_REQUESTS
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher

PROD = "bp01prod12h"
MORE = 5003
# The rules' databases by a pattern that leaves out the thousands added: the watch reads two, and lists all.
NARROW_RULES = RULES.format(approvals=1).replace('databases = ["*"]', 'databases = ["app-*", "billing-*"]')


def many_databases(planetscale: PlanetScaleState) -> None:
    """acme holds MORE databases besides its own, listed after them (by name)."""
    with planetscale.lock:
        for n in range(MORE):
            planetscale.add_database("acme", f"zz-{n:05d}")


def many_branches(planetscale: PlanetScaleState) -> None:
    """acme/app-db holds MORE development branches besides its own, listed after them."""
    with planetscale.lock:
        for n in range(MORE):
            planetscale.add_branch("acme", "app-db", f"feature-{n:05d}", production=False)


def pass_past_the_lists(bot: Bot, watcher: Watcher, meanwhile: Callable[[], object]) -> list[str]:
    """A pass on NARROW_RULES read whole, then `meanwhile` (past the lists' 5,000, and something to tell), then a
    pass: what it posted."""
    bot.use_rules(NARROW_RULES)
    watch_pass(bot, watcher)
    meanwhile()
    return watch_pass(bot, watcher)


def skipped_in_health(bot: Bot, watcher: Watcher, what: str) -> bool:
    """Whether /healthz names `what` among the watch's skips, with the 5,000 it read."""
    report = health_report(bot.deps, watcher)
    return any(what in s and "5,000" in s for s in report.get("watch_skipped", []))


def test_an_organization_of_more_databases_than_a_list_is_read_to_is_watched_as_far_as_read_and_told(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    posted = pass_past_the_lists(bot, watcher, lambda: (
        many_databases(planetscale),
        planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)))
    assert any(p.startswith(":eyes:") for p in posted), posted  # those read are judged
    said = skipped_said(bot)
    assert "acme databases" in said and "5,000" in said and "not read" in said, said
    assert skipped_in_health(bot, watcher, "acme databases")


def test_a_bulk_change_or_an_export_over_a_pattern_of_such_an_organization_asks_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    many_databases(planetscale)
    said = approvals_bot.command("update acme/billing-* * retention=5d", user=ALICE).all_text()
    assert "5,000" in said and "Name a database" in said, said
    assert approvals_bot.deps.store.open_batches(limit=None) == []
    assert not planetscale.calls("PATCH")
    exported = approvals_bot.command("export acme/billing-* json", user=ALICE).all_text()
    assert "5,000" in exported, exported


def test_a_database_of_more_branches_than_a_list_is_read_to_is_judged_on_those_read_and_told(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    posted = pass_past_the_lists(bot, watcher, lambda: (
        many_branches(planetscale), planetscale.fail_backup("acme", "app-db", PROD)))
    assert any(p.startswith(":rotating_light:") and "Production" in p for p in posted), posted
    said = skipped_said(bot)
    assert "branches past the first 5,000" in said and "not read" in said, said
    assert skipped_in_health(bot, watcher, "app-db")
    status = json.dumps([e.blocks or e.text for e in bot.command("status acme/app-db").private], ensure_ascii=False)
    assert "The last backup failed" in status and "past the first 5,000" in status, status


def test_status_makes_a_bounded_number_of_requests_and_says_what_it_left_unread(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Fifty policies on twelve production branches: a read of each one's backups on ten of them is more than
    one command may make."""
    planetscale.add_database("acme", "wide")
    with planetscale.lock:
        for n in range(11):
            planetscale.add_branch("acme", "wide", f"main-{n:02d}", production=True)
        for n in range(50):
            planetscale.add_policy("acme", "wide", f"bp{n:05d}", name=f"P{n:05d}")
    planetscale.clear_record()
    said = json.dumps([e.blocks or e.text for e in approvals_bot.command("status acme/wide").private],
                      ensure_ascii=False)
    assert len(planetscale.calls()) <= MAX_STATUS_REQUESTS, len(planetscale.calls())
    assert "more not read" in said and f"at most {MAX_STATUS_REQUESTS} requests" in said, said


def test_status_whose_one_policy_alone_needs_more_requests_says_none_was_judged(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """PlanetScale paging one item a page: one policy failing 20 times on each of ten production branches needs
    two reads of 20 pages a branch."""
    planetscale.add_database("acme", "deep")
    with planetscale.lock:
        planetscale.per_page_most = 1
        planetscale.add_policy("acme", "deep", "bpdeep01", name="Deep")
        for n in range(10):
            branch = planetscale.add_branch("acme", "deep", f"main-{n:02d}", production=True)["name"]
            for hours in range(20):
                planetscale.add_backup("acme", "deep", "bpdeep01", state="failed", hours_ago=hours, branch=branch)
    planetscale.clear_record()
    said = json.dumps([e.blocks or e.text for e in approvals_bot.command("status acme/deep").private],
                      ensure_ascii=False)
    assert len(planetscale.calls()) <= MAX_STATUS_REQUESTS, len(planetscale.calls())
    assert "no policy judged (1 more not read" in said and "has no backup policies" not in said, said


def test_a_change_in_a_database_of_more_branches_than_a_list_is_read_to_is_not_estimated_on_some_of_them(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    many_branches(planetscale)
    said = approvals_bot.command(f"update acme/app-db {PROD} retention=5d --dry-run", user=ALICE).all_text()
    assert "Something went wrong" not in said and "past them were not read" in said, said

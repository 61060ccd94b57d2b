"""PlanetScale's pagination on a bad day, through the pipeline: a page that names itself, an earlier page, a page
far ahead or a next page that is not a page number. The bot stops (a bounded number of requests), and says it
could not read the whole list: no partial list is shown as whole, no policy taken as deleted, no database left
out of a bulk change without a word."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from test_watch_bad_days import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher

# How a page names the next one, given its own number and the one PlanetScale would name (None on the last).
PAGERS: dict[str, Callable[[int, int | None], Any]] = {
    "itself": lambda page, proper: page if proper else None,
    "the first page": lambda page, proper: 1 if proper else None,
    "a page far ahead": lambda page, proper: 10**12 if proper else None,
    "text": lambda page, proper: str(proper) if proper else None,
    "a float": lambda page, proper: float(proper) if proper else None,
}


def paged(planetscale: PlanetScaleState, pager: str) -> None:
    """A page holds one item (acme's three app-db policies and two databases take pages), named by `pager`."""
    with planetscale.lock:
        planetscale.per_page_most = 1
        planetscale.next_page = PAGERS[pager]


def gets(planetscale: PlanetScaleState) -> int:
    return len(planetscale.calls("GET"))


@pytest.mark.parametrize("pager", PAGERS)
def test_list_says_it_could_not_read_every_page(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                 pager: str) -> None:
    paged(planetscale, pager)
    said = approvals_bot.command("list acme/app-db", user=ALICE).all_text()
    assert "Something went wrong" not in said, said
    assert "next page" in said and "Production daily" not in said, said  # no list shown as whole
    assert gets(planetscale) < 10


@pytest.mark.parametrize("pager", PAGERS)
def test_status_says_it_could_not_read_every_page(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                   pager: str) -> None:
    paged(planetscale, pager)
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    assert "Something went wrong" not in said, said
    assert "next page" in said, said
    assert gets(planetscale) < 20


@pytest.mark.parametrize("pager", PAGERS)
def test_a_bulk_change_over_a_glob_leaves_no_database_out_without_a_word(
        approvals_bot: Bot, planetscale: PlanetScaleState, pager: str) -> None:
    paged(planetscale, pager)
    said = approvals_bot.command("update acme/* * retention=14d --dry-run", user=ALICE).all_text()
    assert "Something went wrong" not in said, said
    assert "next page" in said, said
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("pager", PAGERS)
def test_the_watch_takes_no_policy_for_deleted_and_says_what_it_skipped(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, pager: str) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []
    paged(planetscale, pager)
    posted = watch_pass(bot, watcher)
    assert not [p for p in posted if "deleted" in p.lower()], posted
    assert any("next page" in s.reason for s in watcher.skipped), watcher.skipped
    assert gets(planetscale) < 100

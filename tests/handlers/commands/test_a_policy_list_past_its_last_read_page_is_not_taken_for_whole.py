"""A policy list the bot stops reading (5,000 items, 50 pages) is never taken for the whole: a database of more
policies than that, or a PlanetScale naming a next page of nothing after nothing without end, is answered as not
read whole, never as a database without policies, nor a policy past the cut as one nobody holds."""

from __future__ import annotations

from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState


def test_pages_of_nothing_that_name_a_next_page_without_end_are_not_taken_for_no_policies(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.next_page = lambda page, proper: page + 1  # after the last page, empty pages without end
    planetscale.clear_record()
    said = approvals_bot.command("list acme/app-db", user=ALICE).all_text()
    assert "has no backup policies" not in said and "Something went wrong" not in said, said
    assert "stopped, without the rest" in said, said
    assert len(planetscale.calls("GET")) <= 2  # a page of nothing naming a next one ends the read


def test_a_database_of_more_policies_than_a_list_is_read_to_is_not_shown_as_whole(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_database("acme", "big")
    with planetscale.lock:
        for n in range(5003):
            planetscale.add_policy("acme", "big", f"bp{n:05d}", name=f"P{n:05d}")
    listed = approvals_bot.command("list acme/big", user=ALICE).all_text()
    assert "(5000)" not in listed and "not read" in listed, listed
    shown = approvals_bot.command("show acme/big bp05002", user=ALICE).all_text()
    assert "No backup policy" not in shown and "not read" in shown, shown
    asked = approvals_bot.command("update acme/big P05002 retention=14d --dry-run", user=ALICE).all_text()
    assert "No backup policy" not in asked and "not read" in asked, asked

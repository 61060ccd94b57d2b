"""PlanetScale answering a backup list with pages of nothing, each naming a next one, without end: `status` stops
at the first (a page of nothing naming a next page is out of its contract) and says the backups could not be
read, rather than reading 50 pages (100 with the history after the last week's) for each policy and branch."""

from __future__ import annotations

from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState


def test_status_stops_at_a_page_of_nothing_that_names_a_next_page(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.next_page_only = "/backups"
        planetscale.next_page = lambda page, proper: proper if proper is not None else page + 1
    planetscale.clear_record()
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    assert "Something went wrong" not in said, said
    assert "holds nothing and names a next page" in said and "all healthy" not in said, said
    backup_pages = [c for c in planetscale.calls("GET") if c.path.endswith("/backups")]
    assert len(backup_pages) <= 20, len(backup_pages)

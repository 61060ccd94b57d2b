"""`status` on a branch holding thousands of a policy's backups (an hourly policy kept for a year holds 8,760):
it reads the last week's, not every page of the branch's history, and judges the policy on its newest backups
whatever order PlanetScale lists them in (its spec sets none; the bot reads a list up to 5,000 items)."""

from __future__ import annotations

import json
from datetime import datetime

from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from backup_reads import history_reads, hourly_history
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState


def test_a_policy_of_thousands_of_backups_listed_oldest_first_is_judged_on_its_newest(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    newest = hourly_history(planetscale, oldest_first=True)
    reply = approvals_bot.command("status acme/app-db", user=ALICE)
    said = json.dumps([e.blocks or e.text for e in reply.private], ensure_ascii=False)
    assert "3 policies, all healthy" in said and "*Stale" not in said, said
    stamp = int(datetime.fromisoformat(newest["completed_at"].replace("Z", "+00:00"))
                .timestamp())
    assert f"*Last success:* <!date^{stamp}^" in said, said
    assert history_reads(planetscale) <= 3, history_reads(planetscale)


def test_status_reads_a_week_of_backups_not_every_page(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    hourly_history(planetscale, oldest_first=False)
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    assert "all healthy" in said, said
    assert history_reads(planetscale) <= 3, history_reads(planetscale)

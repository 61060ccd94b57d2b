"""`status` on a policy whose backups have all failed for longer than the week the health reads first (an hourly
policy kept for months, failing since nine days), on a branch PlanetScale lists oldest first past the 5,000 items
the bot reads of a list: the recent read holds no success, so the branch's whole history is read, and its first
5,000 items are months old. The failures of the last 7 days, which the recent read found, must still be counted
and the policy's newest backup told as failed, not left out for the oldest successes of the history."""

from __future__ import annotations

import re

from approval_helpers import ALICE
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from backup_reads import PROD_OF_APP_DB, hourly_history
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

FAILING_HOURS = 9 * 24


def test_a_policy_failing_for_nine_days_past_thousands_of_backups_is_told_failing(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    hourly_history(planetscale, oldest_first=True)
    with planetscale.lock:
        for backup in planetscale.backups[("acme", "app-db", "main")][-FAILING_HOURS:]:
            if backup["backup_policy"]["id"] == PROD_OF_APP_DB:
                backup["state"] = "failed"
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    counted = [int(n) for n in re.findall(r"\*Failures in 7 days:\* ([0-9]+)", said)]
    assert max(counted) >= 7 * 24 - 1, said  # one an hour; the oldest may be seconds past the 7 days

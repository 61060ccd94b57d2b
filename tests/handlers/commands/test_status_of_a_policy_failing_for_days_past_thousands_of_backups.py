"""`status` on a policy whose backups have all failed for longer than the week the health reads first (an hourly
policy kept for months, failing since nine days), on a branch PlanetScale lists oldest first past the 5,000 items
the bot reads of a list: the recent read holds no success, so the branch's whole history is read, and its first
5,000 items are months old. The failures of the last 7 days, which the recent read found, must still be counted
and its last success told as it was, nine days ago, not the newest of those months-old ones."""

from __future__ import annotations

import re
from datetime import datetime

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
        held = [b for b in planetscale.backups[("acme", "app-db", "main")]
                if b["backup_policy"]["id"] == PROD_OF_APP_DB]
        for backup in held[-FAILING_HOURS:]:
            backup["state"] = "failed"
    last_success = held[-FAILING_HOURS - 1]["completed_at"]
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    counted = [int(n) for n in re.findall(r"\*Failures in 7 days:\* ([0-9]+)", said)]
    assert max(counted) >= 7 * 24 - 1, said  # one an hour; the oldest may be seconds past the 7 days
    stamp = int(datetime.fromisoformat(last_success.replace("Z", "+00:00")).timestamp())
    assert f"*Last success:* <!date^{stamp}^" in said, said

"""A Revert puts back what its change sent, and nothing changed elsewhere: a weekly policy's day moved in
PlanetScale's dashboard between the ask (a retention change) and its approval is the dashboard's, not the change's,
and its revert leaves it. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, latest_view, request_id
from bulk_helpers import channel_messages
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot"]

WEEKLY = {"name": "Weekly", "target": "production", "frequency_value": 1, "frequency_unit": "week",
          "retention_value": 4, "retention_unit": "week", "schedule_day": 1}


def test_a_revert_leaves_a_day_moved_in_the_dashboard_before_its_change_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1))
    planetscale.add_database("acme", "wk")
    planetscale.add_policy("acme", "wk", "wk-weekly", **WEEKLY)
    approvals_bot.command('update acme/wk Weekly retention=8w')
    [asked] = channel_messages(approvals_bot)
    planetscale.policies[("acme", "wk")]["wk-weekly"]["schedule_day"] = 3  # moved in the dashboard
    approvals_bot.click(APPROVE, request_id(asked), user=CAROL, message=asked)
    assert planetscale.policies[("acme", "wk")]["wk-weekly"]["retention_value"] == 8
    applied = latest_view(approvals_bot, asked)
    assert "schedule_day" not in applied and "Wednesday" in applied, applied  # the day is PlanetScale's now
    assert "day" not in applied.split("Revert this change?")[1].split("It is asked")[0], applied
    said = approvals_bot.click(REVERT, request_id(asked), user=ALICE, message=asked).all_text()
    revert = channel_messages(approvals_bot)[-1]
    assert revert.ts != asked.ts, said
    approvals_bot.click(APPROVE, request_id(revert), user=CAROL, message=revert)
    policy = planetscale.policies[("acme", "wk")]["wk-weekly"]
    sent = [json.loads(c.body) if isinstance(c.body, (str, bytes)) else c.body for c in planetscale.calls("PATCH")]
    assert policy["retention_value"] == 4, sent
    assert policy["schedule_day"] == 3, sent  # the dashboard's day stays

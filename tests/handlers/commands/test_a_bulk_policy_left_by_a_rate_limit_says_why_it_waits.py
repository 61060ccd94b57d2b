"""A bulk change approved while PlanetScale rate limits the bot's token: its first policy fails on the 429 and the
others are left, approved, for the sweep. Each of those lines said only "not applied yet: the bot applies it
shortly", not that it waits on PlanetScale's rate limit (nor, when PlanetScale gives no answer at all, on that).
Now each says why it waits and what happens next. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import CAROL, approvals_bot
from bulk_helpers import asked_over_databases, button, latest
from conftest import Bot

from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

COUNT = 4


def test_a_bulk_policy_left_after_a_rate_limited_patch_says_it_waits_on_the_rate_limit(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    _, message = asked_over_databases(bot, planetscale, COUNT)
    planetscale.add_fault(Fault(status=429, method="PATCH", retry_after="20", times=None))
    bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    view = json.dumps(latest(bot, message).blocks, ensure_ascii=False)
    waiting = [line for line in view.split("\\n") if "not applied yet" in line]
    assert len(waiting) == COUNT - 1, view[:3000]
    for line in waiting:
        assert "rate limit" in line and "next sweep" in line, line

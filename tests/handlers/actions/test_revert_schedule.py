"""Issue 19 item 8: reverting the bot's own move from daily to weekly asks the change PlanetScale can take
(daily again; PlanetScale clears the day and week itself for daily backups), not a null day."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name
DEV = "bp03devday"  # development, daily at 04:30: no approval needed


def revert_button(blocks: list[dict[str, object]]) -> str:
    for block in blocks:
        for element in block.get("elements", []):  # type: ignore[attr-defined]
            if element.get("action_id") == REVERT:
                return str(element["value"])
    raise AssertionError("no Revert button")


def test_reverting_the_bots_own_move_from_daily_to_weekly_asks_daily_again(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    applied = approvals_bot.command(f"update acme/app-db {DEV} retention=2w frequency=1w day=mon", user=ALICE)
    [message] = applied.public
    assert planetscale.policy("acme", "app-db", DEV)["schedule_day"] == 1
    reverted = approvals_bot.click(REVERT, revert_button(message.blocks), user=ALICE, message=message)
    assert "Something went wrong" not in reverted.all_text()
    assert "Applied" in reverted.all_text() or "changed the backup policy" in reverted.all_text()
    policy = planetscale.policy("acme", "app-db", DEV)
    assert (policy["frequency_unit"], policy["schedule_day"], policy["schedule_week"]) == ("day", None, None)
    assert [c.body for c in planetscale.calls("PATCH")][-1] == {"retention_value": 3, "retention_unit": "day",
                                                                "frequency_value": 1, "frequency_unit": "day"}


def test_reverting_a_move_from_monthly_to_daily_asks_the_day_and_week_back(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    """PlanetScale cleared the day and week when the schedule went daily: the revert asks them back."""
    [message] = bot.command("update acme/billing-db bp05billmon frequency=1d", user=ALICE).public
    assert planetscale.policy("acme", "billing-db", "bp05billmon")["schedule_day"] is None
    reverted = bot.click(REVERT, revert_button(message.blocks), user=ALICE, message=message)
    assert "Nothing was sent" not in reverted.all_text() and "Something went wrong" not in reverted.all_text()
    policy = planetscale.policy("acme", "billing-db", "bp05billmon")
    assert (policy["frequency_unit"], policy["schedule_day"], policy["schedule_week"]) == ("month", 1, 0)

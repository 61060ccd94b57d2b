"""A Revert click is judged by the one judge on the policy as read now (review rev19u): not refused by the door
on the targets recorded with the change it reverts."""

from __future__ import annotations

from access_rules import by_target
from approval_helpers import ALICE, BOB, CAROL, PROD, approvals_bot, latest_view, request_id, request_message
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = "U0LEAD0002"
DEV = "bp03devday"
# Production: alice asks, carol approves; development: bob asks, lead2 approves.
SPLIT_RULES = by_target(production=([ALICE], [CAROL], 1), development=([BOB], [LEAD2], 1))


def revert_value(bot: Bot, message: object) -> str:
    for event in reversed(bot.slack.events):
        if event.ts == getattr(message, "ts", None) and event.kind in ("message", "update"):
            for block in event.blocks:
                for element in block.get("elements", []):
                    if element.get("action_id") == REVERT:
                        return str(element["value"])
    raise AssertionError("no Revert button")


def applied_on_production(bot: Bot) -> object:
    bot.use_rules(SPLIT_RULES)
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    message = request_message(bot)
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "Applied" in latest_view(bot, message) or "changed" in latest_view(bot, message)
    return message


def test_a_revert_after_the_policy_moved_to_a_target_the_clicker_may_change_is_asked_there(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = applied_on_production(approvals_bot)
    assert len(planetscale.calls("PATCH")) == 1
    planetscale.policies[("acme", "app-db")][PROD]["target"] = "development"  # moved in the dashboard since
    reply = approvals_bot.click(REVERT, revert_value(approvals_bot, message), user=BOB, message=message)
    assert "may not change production" not in reply.all_text(), "the door refused on the recorded target"
    [revert] = [r for r in approvals_bot.deps.store.requests() if r.revert_of == request_id(message)]
    assert revert.approvals_needed == 1 and revert.approvers == [LEAD2]  # development's rule, as it is now
    approvals_bot.click(APPROVE, revert.id, user=LEAD2, message=message)
    assert len(planetscale.calls("PATCH")) == 2
    assert planetscale.policies[("acme", "app-db")][PROD]["retention_value"] != 9


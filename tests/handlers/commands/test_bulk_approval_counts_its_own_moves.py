"""A bulk change that moves several policies of one database out of a target under an overridable floor is
approved as it was asked: each policy judged on the policies as the change's earlier ones leave them, as asking
judged it and as applying finds it (rev24). Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import guardrail
from approval_helpers import ALICE, CAROL, LEADS, RULES, approvals_bot
from bulk_helpers import button, channel_messages, latest
from conftest import Bot
from test_bulk import shown

from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = LEADS[1]
# At least two production policies, or a reason and two approvals.
FLOOR = RULES.format(approvals=1) + guardrail("production", min_policies=2, override_approvals=2)


def production(planetscale: PlanetScaleState) -> list[str]:
    return sorted(p["id"] for p in planetscale.policies[("acme", "floor-db")].values() if p["target"] == "production")


def test_a_bulk_move_past_an_overridable_floor_waits_for_the_override_it_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """floor-db has three production policies; alice moves all three to development with a reason. Asking judged
    them in turn: the first leaves two (one approval), the second and third break the floor (two approvals), so
    the change asked two. carol's one approval judged each policy on the three read then, as if none of the
    others moved: none broke the floor, the first was sent on one approval, and the other two were told 'its
    rules now ask for more approvals', their override left to be given one by one outside the bulk change."""
    planetscale.add_database("acme", "floor-db")
    for n in (1, 2, 3):
        planetscale.add_policy("acme", "floor-db", f"fp{n}", name=f"P{n}", target="production")
    approvals_bot.use_rules(FLOOR)
    approvals_bot.command('update acme/floor-d* * --where target=production target=development reason="retiring"',
                          user=ALICE)
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "sent on one approval of the two the change asked"
    now = shown(approvals_bot, message)
    assert "rules now ask for more approvals" not in now, now
    assert "(2 policies): 1 more approval still needed" in now, now
    approvals_bot.click(BULK_APPROVE, button(latest(approvals_bot, message), BULK_APPROVE), user=LEAD2,
                        message=message)
    assert production(planetscale) == []
    assert len(planetscale.calls("PATCH")) == 3
    assert "Applied to 3 of 3" in shown(approvals_bot, message)

"""A Slack address written with a lookalike letter does not take a PlanetScale admin's role, driven through Bolt's
pipeline with the emulators."""

from __future__ import annotations

import pytest
from approval_helpers import BOB, approvals_bot
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name

DEV = "bp03devday"
# Development changes need no approval, but only from a PlanetScale admin of the organization.
ADMIN_DEV_RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
planetscale_role = "admin"
"""
KELVIN = "\u212a"  # KELVIN SIGN: drawn as K, and Python's str.lower() makes it an ASCII "k"


@pytest.mark.parametrize("address", [f"{KELVIN}ate@acme.example", "kate@acme.example\u00a0"],
                         ids=["kelvin-sign", "no-break-space"])
def test_a_slack_address_with_a_lookalike_letter_does_not_take_a_planetscale_admins_role(
        approvals_bot: Bot, planetscale: PlanetScaleState, address: str) -> None:
    """kate@acme.example is a PlanetScale admin of acme. bob, a member there, sets his Slack address to
    "Kate@acme.example" written with the Kelvin sign (or hers with a no-break space after it): no mailbox of
    kate's, but lowercased (or stripped) by Unicode's rules it reads as hers, and his no-approval change under a
    rule for admins only is sent."""
    planetscale.add_member("acme", "kate@acme.example", "Kate Admin", "admin")
    approvals_bot.use_rules(ADMIN_DEV_RULES)
    before = planetscale.calls("PATCH")
    approvals_bot.slack.users[BOB].email = address
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB)
    told = " ".join(e.text for e in reply.events)
    assert planetscale.calls("PATCH") == before, f"sent as if bob were kate, an admin: {told!r}"
    assert "not a member of acme" in told, told

"""A pending request whose policy moves since to a target its channel does not handle, approved through Bolt's
real pipeline on SQLite and PostgreSQL: not applied, and the target it went to is not named in that channel."""

from __future__ import annotations

import json

from access_rules import production_in_db_ops
from approval_helpers import BOB, DAVE, approvals_bot, request_id
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV, RANDOM = "bp03devday", "C0RANDOM01"
# Production only in #db-ops, by alice with carol's approval; development anywhere, by alice or bob with dave's:
# neither bob nor dave may read production policies in any channel.
RULES = production_in_db_ops(["U0ALICE001", "U0BOB00001"], ["U0DAVE0001"], 1)


def test_the_target_a_policy_moved_to_is_not_named_where_it_is_not_handled(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Was: “Conflict, not applied: the policy moved from development to production in PlanetScale since the
    request” in #random, in bob's direct message and to dave: production is handled only in #db-ops, and neither
    may read it anywhere."""
    approvals_bot.use_rules(RULES)
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None]
    planetscale.policies[("acme", "app-db")][DEV]["target"] = "production"
    before = len(approvals_bot.slack.events)
    reply = approvals_bot.click(APPROVE, request_id(message), user=DAVE, message=message, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    said = reply.all_text() + " ".join(e.text + json.dumps(e.blocks) for e in approvals_bot.slack.events[before:])
    assert "Not applied" in said and "moved from development to a target not handled in this channel" in said, said
    assert "production" not in said, said
    assert not planetscale.calls("PATCH")

"""A move between targets that PlanetScale answered with its own 500 and that the bot closed as not applied (the
list after it still shows the policy where it was) may land or not: under a `min_policies` floor it is counted
gone from the target it leaves, and not yet on the target it was sent to, so a deletion there is not judged on a
policy that may never arrive (SQLite and PostgreSQL)."""

from __future__ import annotations

from access_rules import guardrail
from approval_helpers import ALICE, BOB, CAROL, RULES, approvals_bot, request_id
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV_FLOOR = RULES.format(approvals=1) + guardrail("development", min_policies=2)
WEEKLY = "bp02prodwk"  # production: moved out with carol's approval
EXTRA = "bp10devx"  # development: deleted at once, with no approval


def test_a_move_into_a_floors_target_answered_500_is_not_counted_there(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Two development policies, at least two required. alice's move of the weekly production policy to
    development is answered 500 and closed as not applied. Before: bob's deletion of a development policy was
    judged on three there (the move counted as landed) and sent; the move never landed: one development policy
    left where the guardrail asks two."""
    approvals_bot.use_rules(DEV_FLOOR)
    planetscale.add_policy("acme", "app-db", EXTRA, name="Dev extra", target="development")
    approvals_bot.command(f"update acme/app-db {WEEKLY} target=development", user=ALICE)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel in approvals_bot.slack.channels]
    planetscale.add_fault(Fault(status=500, method="PATCH", path_contains=WEEKLY))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    [move] = approvals_bot.deps.store.requests(list(RequestState))
    assert move.state is RequestState.FAILED and planetscale.policy("acme", "app-db", WEEKLY)["target"] == \
        "production", move
    reply = approvals_bot.command(f"delete acme/app-db {EXTRA}", user=BOB)
    assert [c for c in planetscale.calls("DELETE") if EXTRA in c.path] == [], reply.all_text()
    assert ("development policies of acme/app-db would be 1 (not counting bp02prodwk: the bot's move of it here "
            "was not confirmed, and may never land), at least 2 required") in reply.all_text(), reply.all_text()
    left = [p for p in planetscale.policies[("acme", "app-db")].values() if p["target"] == "development"]
    assert len(left) == 2
    planetscale.dashboard_change("acme", "app-db", WEEKLY, target="development")  # the move, carried out late
    approvals_bot.command(f"delete acme/app-db {EXTRA}", user=BOB)  # three there now: one may go
    assert EXTRA not in planetscale.policies[("acme", "app-db")]

"""A DELETE PlanetScale answers 504 (its gateway gave up; it may still be carried out) under a floor of
policies: the outcome is unknown, as for a DELETE never answered, so the database's lease is kept until what
PlanetScale lists settles it, and a second deletion is not judged on a list that still shows the first. (A move
answered 504: test_a_deletion_closed_not_shown_keeps_the_floor.)"""

from __future__ import annotations

from access_rules import guardrail
from approval_helpers import ALICE, BOB, RULES, approvals_bot, sweep
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV_FLOOR = RULES.format(approvals=1) + guardrail("development", min_policies=2)


def test_a_deletion_answered_504_does_not_let_a_second_one_past_the_floor(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Three development policies, at least two required. alice's DELETE is answered 504 and the list read after
    it still shows the policy. Before: closed at once as not applied, the database's lease given back; bob's
    deletion of a second one, judged on the three listed, was sent; then the first DELETE landed: one development
    policy left where the guardrail asks two. Now alice's stays unconfirmed, bob's waits behind it, and the
    sweep records hers applied once PlanetScale shows it."""
    approvals_bot.use_rules(DEV_FLOOR)
    planetscale.add_policy("acme", "app-db", "bp10devx", name="Dev extra", target="development")
    planetscale.add_policy("acme", "app-db", "bp11devy", name="Dev other", target="development")
    planetscale.add_fault(Fault(status=504, method="DELETE", path_contains="bp10devx"))
    approvals_bot.command("delete acme/app-db bp10devx", user=ALICE)
    approvals_bot.command("delete acme/app-db bp11devy", user=BOB)
    planetscale.dashboard_delete("acme", "app-db", "bp10devx")  # the first DELETE, carried out late
    sweep(approvals_bot)
    left = [p for p in planetscale.policies[("acme", "app-db")].values() if p["target"] == "development"]
    states = [(r.policy_id, r.state.value, r.detail) for r in approvals_bot.deps.store.requests(list(RequestState))]
    assert len(left) >= 2, f"{len(left)} development policy left, at least 2 required ({states})"
    assert states[0][:2] == ("bp10devx", "applied"), states  # settled by reading, once it landed
    assert [c for c in planetscale.calls("DELETE") if "bp11devy" in c.path] == [], states


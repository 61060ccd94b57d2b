"""A DELETE or a move PlanetScale answered with its own 5xx (it may still carry it out: the watch takes such a
deletion or change found within 15 minutes as the bot's) under a floor of policies: a second deletion or move is
not judged on a list that still shows the first, which may land after it (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from access_rules import guardrail
from approval_helpers import ALICE, BOB, CAROL, RULES, approvals_bot, request_id, sweep
from backup_reads import moved_clock
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV_FLOOR = RULES.format(approvals=1) + guardrail("development", min_policies=2)
PROD_FLOOR = RULES.format(approvals=1) + guardrail("production", min_policies=2)


def three_development_policies(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.use_rules(DEV_FLOOR)
    planetscale.add_policy("acme", "app-db", "bp10devx", name="Dev extra", target="development")
    planetscale.add_policy("acme", "app-db", "bp11devy", name="Dev other", target="development")


def states(bot: Bot) -> list[tuple[str, str, str | None]]:
    return [(r.policy_id, r.state.value, r.detail) for r in bot.deps.store.requests(list(RequestState))]


def test_a_deletion_answered_500_does_not_let_a_second_one_past_the_floor(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Three development policies, at least two required. alice's DELETE is answered 500 and the list read after
    it still shows the policy: closed as not applied. Before: bob's deletion of a second one, judged on the three
    listed, was sent; then the first DELETE landed: one development policy left where the guardrail asks two."""
    three_development_policies(approvals_bot, planetscale)
    planetscale.add_fault(Fault(status=500, method="DELETE", path_contains="bp10devx"))
    approvals_bot.command("delete acme/app-db bp10devx", user=ALICE)
    reply = approvals_bot.command("delete acme/app-db bp11devy", user=BOB)
    planetscale.dashboard_delete("acme", "app-db", "bp10devx")  # the first DELETE, carried out late
    sweep(approvals_bot)
    left = [p for p in planetscale.policies[("acme", "app-db")].values() if p["target"] == "development"]
    assert len(left) >= 2, f"{len(left)} development policy left, at least 2 required ({states(approvals_bot)})"
    assert [c for c in planetscale.calls("DELETE") if "bp11devy" in c.path] == [], states(approvals_bot)
    said = reply.all_text()
    assert "would be 1 (counting bp10devx gone: the bot's deletion or move of it was not confirmed" in said, said


@pytest.mark.parametrize("status", [500, 504])
def test_a_move_answered_5xx_does_not_let_a_second_one_past_the_floor(
        approvals_bot: Bot, planetscale: PlanetScaleState, status: int) -> None:
    """The same with moves out of production: alice's PATCH of the target answered 500 (closed as not applied) or
    504 (kept unconfirmed) and not held yet; bob's move, approved after, was sent on the three production policies
    listed."""
    approvals_bot.use_rules(PROD_FLOOR)
    planetscale.add_policy("acme", "app-db", "bp12prodz", name="Prod extra", target="production")
    asked = []
    for user, policy in ((ALICE, "bp12prodz"), (BOB, "bp02prodwk")):
        approvals_bot.command(f"update acme/app-db {policy} target=development", user=user)
        asked.append([e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                      and e.channel in approvals_bot.slack.channels][-1])
    planetscale.add_fault(Fault(status=status, method="PATCH", path_contains="bp12prodz"))
    for message in asked:
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    planetscale.dashboard_change("acme", "app-db", "bp12prodz", target="development")  # carried out late
    sweep(approvals_bot)
    left = [p for p in planetscale.policies[("acme", "app-db")].values() if p["target"] == "production"]
    assert len(left) >= 2, f"{len(left)} production policy left, at least 2 required ({states(approvals_bot)})"
    assert [c for c in planetscale.calls("PATCH") if "bp02prodwk" in c.path] == [], states(approvals_bot)


def test_a_refused_deletion_or_one_long_past_still_counts_and_the_same_policy_may_be_deleted_again(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """What may not land is not counted gone: a DELETE PlanetScale refused (403), or one closed more than 15
    minutes ago; and deleting again the policy whose DELETE was not confirmed counts it once."""
    three_development_policies(approvals_bot, planetscale)
    now = moved_clock(approvals_bot)
    planetscale.add_fault(Fault(status=403, method="DELETE", path_contains="bp10devx"))
    approvals_bot.command("delete acme/app-db bp10devx", user=ALICE)
    planetscale.add_fault(Fault(status=500, method="DELETE", path_contains="bp11devy"))
    approvals_bot.command("delete acme/app-db bp11devy", user=ALICE)
    assert [s for _, s, _ in states(approvals_bot)] == ["failed", "failed"], states(approvals_bot)
    approvals_bot.command("delete acme/app-db bp11devy", user=BOB)  # its own leaving counted once: 3 -> 2
    assert "bp11devy" not in planetscale.policies[("acme", "app-db")], states(approvals_bot)
    planetscale.add_policy("acme", "app-db", "bp11devy", name="Dev other", target="development")
    planetscale.add_fault(Fault(status=500, method="DELETE", path_contains="bp11devy"))
    approvals_bot.command("delete acme/app-db bp11devy", user=ALICE)
    now[0] += 16 * 60  # past the 15 minutes a DELETE of the bot's may still land in
    approvals_bot.command("delete acme/app-db bp10devx", user=BOB)
    assert "bp10devx" not in planetscale.policies[("acme", "app-db")], states(approvals_bot)

"""A guardrail added after a change was asked is judged on the policy as PlanetScale holds it, not on the values the
change was asked on: a field the change leaves alone (retention, under a frequency change) may have moved in the
dashboard since into what the guardrail allows. No approval click, other click or sweep closes such a change as
refused; it applies, judged again under its lease. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import guardrail
from approval_helpers import BOB, CAROL, LEADS, PROD, RULES, approvals_bot, ask, request_id, swept_later
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

FEWER = f'update acme/app-db {PROD} frequency=24h reason="fewer backups"'


def kept_longer_and_bounded(bot: Bot, planetscale: PlanetScaleState, approvals: int) -> None:
    """Asked on 2 days kept; then 14 days set in the dashboard, and at least 7 days asked of production."""
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=14, retention_unit="day")
    bot.use_rules(RULES.format(approvals=approvals) + guardrail("production", min_retention="7d"))


def state_of(bot: Bot, rid: str) -> RequestState:
    request = bot.deps.store.get_request(rid)
    assert request is not None
    return request.state


def test_an_approval_applies_it(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot, FEWER)
    kept_longer_and_bounded(approvals_bot, planetscale, 1)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED, reply.all_text()
    assert [c.body for c in planetscale.calls("PATCH")] == [{"frequency_value": 24, "frequency_unit": "hour"}]


def test_a_click_by_someone_who_may_not_approve_leaves_it_waiting(approvals_bot: Bot,
                                                                  planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot, FEWER)
    kept_longer_and_bounded(approvals_bot, planetscale, 1)
    said = approvals_bot.click(APPROVE, request_id(message), user=BOB, message=message).all_text()
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING, said
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED


def test_the_sweep_leaves_it_waiting_for_its_second_approval(approvals_bot: Bot,
                                                             planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(RULES.format(approvals=2))
    message = ask(approvals_bot, FEWER)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    kept_longer_and_bounded(approvals_bot, planetscale, 2)
    swept_later(approvals_bot)
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING
    approvals_bot.click(APPROVE, request_id(message), user=LEADS[1], message=message)
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED
    assert len(planetscale.calls("PATCH")) == 1


def test_it_is_refused_where_the_policy_as_it_is_now_breaks_it(approvals_bot: Bot,
                                                                planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot, FEWER)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=3, retention_unit="day")
    approvals_bot.use_rules(RULES.format(approvals=1) + guardrail("production", min_retention="7d"))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED
    assert "backups kept 3 days, at least 7 days required" in (request.detail or "")
    assert planetscale.calls("PATCH") == []


def test_an_override_the_policy_as_it_is_now_does_not_need_asks_no_more_approvals(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """The guardrail added lets a change break it with 2 approvals: the values asked on break it, those held now
    do not, so the rule's one approval applies it."""
    message = ask(approvals_bot, FEWER)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=14, retention_unit="day")
    approvals_bot.use_rules(RULES.format(approvals=1)
                            + guardrail("production", min_retention="7d", override_approvals=2))
    said = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message).all_text()
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED, said

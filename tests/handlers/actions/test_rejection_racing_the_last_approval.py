"""A rejection on one instance racing the approval that completes the count on another, on one PostgreSQL: the
rejection landing between the approval's count and its move leaves nothing sent; landing after the move, it is
told the request is approved already, and the change applies once. Driven through Bolt's pipeline."""

from __future__ import annotations

from typing import Any

from approval_helpers import CAROL, LEADS, RULES, approvals_bot, ask, request_id, second_instance, swept_later
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE, REJECT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name
LEAD2 = LEADS[1]


def test_a_rejection_landing_between_the_last_approvals_count_and_its_move_sends_nothing(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    rid = request_id(message)
    store = approvals_bot.deps.changes.store
    real_add = store.add_approval

    def rejected_meanwhile(*args: Any, **kwargs: Any) -> Any:
        added = real_add(*args, **kwargs)
        second_instance.click(REJECT, rid, user=LEAD2, message=message)  # lead2's click, on the other instance
        return added

    store.add_approval = rejected_meanwhile  # type: ignore[method-assign]
    try:
        approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    finally:
        store.add_approval = real_add  # type: ignore[method-assign]
    latest = store.get_request(rid)
    assert latest is not None and latest.state is RequestState.REJECTED
    assert planetscale.calls("PATCH") == [], "a rejected request was sent"
    actions = [e.action for e in approvals_bot.audit.all() if e.request_id == rid]
    assert "applied" not in actions and "sending" not in actions and actions.count("rejected") == 1


def test_a_rejection_landing_after_the_last_approvals_move_is_told_and_the_change_applies_once(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    rid = request_id(message)
    changes = approvals_bot.deps.changes
    real_claim = changes.store.claim_for_applying
    replies: list[Any] = []

    def rejected_before_the_claim(*args: Any, **kwargs: Any) -> Any:
        if not replies:
            replies.append(second_instance.click(REJECT, rid, user=LEAD2, message=message))
        return real_claim(*args, **kwargs)

    changes.store.claim_for_applying = rejected_before_the_claim  # type: ignore[method-assign]
    try:
        approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    finally:
        changes.store.claim_for_applying = real_claim  # type: ignore[method-assign]
    latest = changes.store.get_request(rid)
    assert latest is not None and latest.state is RequestState.APPLIED
    assert len(planetscale.calls("PATCH")) == 1
    actions = [e.action for e in approvals_bot.audit.all() if e.request_id == rid]
    assert actions.count("applied") == 1 and "rejected" not in actions


def test_a_rejection_landing_while_the_sweep_finds_the_approvals_now_enough_sends_nothing(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    """Two approvals asked, carol's given; the rules then ask one, and the sweep's judging on one instance finds
    carol's enough, as lead2 rejects on the other before its move."""
    for bot in (approvals_bot, second_instance):
        bot.use_rules(RULES.format(approvals=2))
    message = ask(approvals_bot)
    rid = request_id(message)
    approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    for bot in (approvals_bot, second_instance):
        bot.use_rules(RULES.format(approvals=1))
    store = approvals_bot.deps.changes.store
    real_move = store.transition
    rejected: list[Any] = []

    def rejected_meanwhile(request: str, from_states: Any, to: RequestState, **kwargs: Any) -> Any:
        if to is RequestState.APPROVED and not rejected:
            rejected.append(second_instance.click(REJECT, rid, user=LEAD2, message=message))
        return real_move(request, from_states, to, **kwargs)

    store.transition = rejected_meanwhile  # type: ignore[method-assign]
    try:
        swept_later(approvals_bot)
    finally:
        store.transition = real_move  # type: ignore[method-assign]
    assert rejected, "the sweep never moved the request to approved"
    latest = store.get_request(rid)
    assert latest is not None and latest.state is RequestState.REJECTED
    assert planetscale.calls("PATCH") == [], "a rejected request was sent"
    actions = [e.action for e in approvals_bot.audit.all() if e.request_id == rid]
    assert "applied" not in actions and "sending" not in actions

"""A guardrail added after a bulk change was asked is judged on each policy as PlanetScale holds it, not on the values
the change was asked on, as a single request's is (test_a_guardrail_judged_on_the_policy_as_it_is_now): a field the
change leaves alone (retention, under a frequency change) may have moved in the dashboard since into what the
guardrail allows. The bulk door judged it on the values asked alone: the sweep, and a click by someone who may not
approve, closed it as refused ("under the guardrails as they are now, backups kept 2 days") while PlanetScale held
14 days; an override those values needed was still asked of the approvers. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import guardrail
from approval_helpers import ALICE, BOB, CAROL, RULES, approvals_bot, swept_later
from bulk_helpers import button, channel_messages
from conftest import Bot

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DATABASES = ("freq-0", "freq-1")


def asked(bot: Bot, planetscale: PlanetScaleState, approvals: int = 1) -> tuple[str, SlackEvent]:
    """Alice's bulk change to back up daily, asked on 2 days kept: its ID and message."""
    bot.use_rules(RULES.format(approvals=approvals))
    for name in DATABASES:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.command('update acme/freq-* "Production daily" frequency=24h reason="fewer backups"', user=ALICE)
    [message] = channel_messages(bot)
    return button(message, BULK_APPROVE), message


def kept_longer_and_bounded(bot: Bot, planetscale: PlanetScaleState, approvals: int, **limits: str | int) -> None:
    """14 days kept set in the dashboard since, and at least 7 days asked of production."""
    for name in DATABASES:
        planetscale.dashboard_change("acme", name, f"{name}-prod", retention_value=14, retention_unit="day")
    bot.use_rules(RULES.format(approvals=approvals) + guardrail("production", min_retention="7d", **limits))


def state_of(bot: Bot, batch_id: str) -> BatchState:
    batch = bot.deps.bulk.store.get_batch(batch_id)
    assert batch is not None
    return batch.state


def daily_sent(planetscale: PlanetScaleState) -> list[object]:
    return [c.body for c in planetscale.calls("PATCH")]


def test_the_sweep_leaves_it_waiting_and_an_approval_applies_it(approvals_bot: Bot,
                                                                planetscale: PlanetScaleState) -> None:
    batch_id, message = asked(approvals_bot, planetscale)
    kept_longer_and_bounded(approvals_bot, planetscale, 1)
    swept_later(approvals_bot, 700)  # its turn to be judged again, no approval given
    assert state_of(approvals_bot, batch_id) is BatchState.PENDING, "closed on values PlanetScale no longer holds"
    said = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message).all_text()
    assert state_of(approvals_bot, batch_id) is BatchState.APPROVED, said
    assert daily_sent(planetscale) == [{"frequency_value": 24, "frequency_unit": "hour"}] * 2


def test_a_click_by_someone_who_may_not_approve_leaves_it_waiting(approvals_bot: Bot,
                                                                  planetscale: PlanetScaleState) -> None:
    batch_id, message = asked(approvals_bot, planetscale)
    kept_longer_and_bounded(approvals_bot, planetscale, 1)
    said = approvals_bot.click(BULK_APPROVE, batch_id, user=BOB, message=message).all_text()
    assert state_of(approvals_bot, batch_id) is BatchState.PENDING, said
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert state_of(approvals_bot, batch_id) is BatchState.APPROVED
    assert len(daily_sent(planetscale)) == 2


def test_an_override_the_policies_as_they_are_now_do_not_need_asks_no_more_approvals(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    batch_id, message = asked(approvals_bot, planetscale)
    kept_longer_and_bounded(approvals_bot, planetscale, 1, override_approvals=2)
    said = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message).all_text()
    assert state_of(approvals_bot, batch_id) is BatchState.APPROVED, said
    assert len(daily_sent(planetscale)) == 2


def test_it_is_refused_where_the_policies_as_they_are_now_break_it(approvals_bot: Bot,
                                                                   planetscale: PlanetScaleState) -> None:
    """Held to its rule: the values asked on and those held now both break the guardrail."""
    batch_id, _ = asked(approvals_bot, planetscale, approvals=2)
    approvals_bot.use_rules(RULES.format(approvals=2) + guardrail("production", min_retention="7d"))
    swept_later(approvals_bot, 700)
    assert state_of(approvals_bot, batch_id) is BatchState.REFUSED
    assert daily_sent(planetscale) == []


def test_a_guardrails_refusal_is_left_by_a_click_of_someone_who_may_not_approve_to_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """As a single request's (Deciding._refused_whoever_approves): bob's click closed it at once, his reply
    naming the guardrail of a change he may not decide."""
    batch_id, message = asked(approvals_bot, planetscale)
    approvals_bot.use_rules(RULES.format(approvals=1) + guardrail("production", max_interval="12h"))
    said = approvals_bot.click(BULK_APPROVE, batch_id, user=BOB, message=message).all_text()
    assert state_of(approvals_bot, batch_id) is BatchState.PENDING, said
    swept_later(approvals_bot, 700)
    assert state_of(approvals_bot, batch_id) is BatchState.REFUSED
    assert daily_sent(planetscale) == []

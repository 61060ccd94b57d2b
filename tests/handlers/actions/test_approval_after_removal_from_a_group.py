"""An approver removed from a Slack user group while the bot's listing of the groups (cached for a minute) still
names them. Their approval is what lets a write reach PlanetScale, so it is judged on a listing made after they
clicked, not on one made before their removal; and a change is judged again when it applies on the groups as they
are then, so an approval given while they were in the group stops counting once they are not. Through Bolt's
pipeline and the emulators, on SQLite and PostgreSQL; the groups' cache on a clock the test moves."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, LEADS, RULES, approvals_bot, ask, latest_view, request_id
from bulk_helpers import button, channel_messages
from conftest import Bot

from bot.adapters.slack_directory import slack_groups
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

LEADS_GROUP = "S0DBALEAD1"  # @dba-leads, the approvers of acme's production policies
LEAD2 = LEADS[1]


def on_a_clock(bot: Bot) -> list[float]:
    """The bot's user groups as `serve` makes them (cached 60 s), on a clock the test moves."""
    now = [0.0]
    bot.deps.access.groups = slack_groups(bot.app.client, clock=lambda: now[0])
    return now


def removed(bot: Bot, user: str) -> None:
    """`user` taken out of @dba-leads in Slack."""
    bot.slack.usergroups[LEADS_GROUP]["users"].remove(user)


def state_of(bot: Bot, message_rid: str) -> RequestState:
    request = bot.deps.store.get_request(message_rid)
    assert request is not None
    return request.state


def test_an_approval_given_after_removal_does_not_count_on_a_listing_made_before_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice asks at 0 s (the groups listed then, carol among the leads); carol is taken out of @dba-leads at 30 s
    and clicks Approve at 59 s, while the minute's listing still names her. The production change must not be
    sent on her approval."""
    now = on_a_clock(approvals_bot)
    message = ask(approvals_bot)
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 59.0
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "a production change was sent on the approval of someone no longer " \
                                             "in the group that may approve it"
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING


def test_a_bulk_approval_given_after_removal_does_not_count_on_a_listing_made_before_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    now = on_a_clock(approvals_bot)
    approvals_bot.command('update acme/* "Production daily" retention=3d reason="audit"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 59.0
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "a bulk change was sent on the approval of someone no longer in the " \
                                             "group that may approve it"


def test_an_approval_after_the_cache_expired_is_judged_on_the_groups_as_they_are(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    now = on_a_clock(approvals_bot)
    message = ask(approvals_bot)
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 61.0
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING


def test_an_approval_given_before_removal_stops_counting_when_the_change_applies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Two approvals asked: carol approves at 10 s while a lead, is taken out at 30 s, and lead2 approves at 61 s.
    Judged again as it would apply, on the groups listed again, carol's approval no longer counts: nothing sent."""
    approvals_bot.use_rules(RULES.format(approvals=2))
    now = on_a_clock(approvals_bot)
    message = ask(approvals_bot)
    now[0] = 10.0
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 61.0
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") == []
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING
    assert "no longer counted: <@U0CAROL001>" in latest_view(approvals_bot, message)
    approvals_bot.click(APPROVE, request_id(message), user=LEADS[2], message=message)
    assert len(planetscale.calls("PATCH")) == 1

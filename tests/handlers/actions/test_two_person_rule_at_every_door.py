"""The two-person rule tried as someone who wants their own change through would: the requester also an approver
(directly and through both groups a rule asks), clicking on the App Home instead of the channel message; and one
change asked twice by two people who each approve the other's. Through Bolt's pipeline and the emulators, on
SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, BOB, CAROL, LEADS, RULES, approvals_bot, ask, request_id, request_message
from conftest import Bot
from home_helpers import click_on_home, home_buttons, open_home

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackUser
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

CHANGE = 'update acme/app-db bp01prod12h retention=1d frequency=12h reason="cost"'
# carol is an editor too: she may ask, and approve what others ask, never her own.
CAROL_EDITS = RULES.format(approvals=1).replace('editors = ["@dba-team"]', f'editors = ["@dba-team", "{CAROL}"]')
# One approval from each of two groups; carol is in both, and asks.
TWO_GROUPS = RULES.format(approvals='{ "@dba-leads" = 1, "@security" = 1 }').replace(
    'editors = ["@dba-team"]', f'editors = ["@dba-team", "{CAROL}"]')
SEC_ONLY = "U0SECONLY1"


def state_of(bot: Bot, rid: str) -> RequestState:
    request = bot.deps.store.get_request(rid)
    assert request is not None
    return request.state


def test_an_approver_who_asks_cannot_approve_their_own_change_from_the_app_home(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(CAROL_EDITS)
    approvals_bot.command(CHANGE, user=CAROL)
    rid = request_id(request_message(approvals_bot))
    assert (APPROVE, rid) not in home_buttons(open_home(approvals_bot, CAROL))  # not offered to her
    click_on_home(approvals_bot, CAROL, APPROVE, rid)  # and a click as Slack would send it is refused
    approvals_bot.command("pending", user=CAROL)
    assert planetscale.calls("PATCH") == [] and state_of(approvals_bot, rid) is RequestState.PENDING
    assert approvals_bot.deps.store.approvers_of(rid) == []
    assert (APPROVE, rid) in home_buttons(open_home(approvals_bot, LEADS[1]))
    click_on_home(approvals_bot, LEADS[1], APPROVE, rid)
    assert len(planetscale.calls("PATCH")) == 1 and state_of(approvals_bot, rid) is RequestState.APPLIED


def test_a_requester_in_both_groups_a_rule_asks_fills_neither(approvals_bot: Bot,
                                                              planetscale: PlanetScaleState) -> None:
    approvals_bot.slack.add_user(SlackUser(SEC_ONLY, "sec", "Sec Only", "sec@acme.example"))
    approvals_bot.slack.add_usergroup("S0SECURTY1", "security", [CAROL, SEC_ONLY])
    approvals_bot.use_rules(TWO_GROUPS)
    approvals_bot.command(CHANGE, user=CAROL)
    message = request_message(approvals_bot)
    rid = request_id(message)
    approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    approvals_bot.click(APPROVE, rid, user=LEADS[1], message=message)  # @dba-leads filled; @security owes one
    assert planetscale.calls("PATCH") == [] and state_of(approvals_bot, rid) is RequestState.PENDING
    approvals_bot.click(APPROVE, rid, user=SEC_ONLY, message=message)
    assert len(planetscale.calls("PATCH")) == 1


def test_one_change_asked_by_two_people_who_approve_each_others_is_sent_once(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice and bob ask the same change; each has the other's approved: the first applies, the second finds
    the policy moved since it was asked and sends nothing."""
    first = ask(approvals_bot, CHANGE)
    approvals_bot.command(CHANGE, user=BOB)
    second = next(e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                  and e.channel in approvals_bot.slack.channels and e.ts != first.ts)
    approvals_bot.click(APPROVE, request_id(first), user=CAROL, message=first)
    approvals_bot.click(APPROVE, request_id(second), user=LEADS[1], message=second)
    assert len(planetscale.calls("PATCH")) == 1
    assert state_of(approvals_bot, request_id(first)) is RequestState.APPLIED
    later = approvals_bot.deps.store.get_request(request_id(second))
    assert later is not None and later.state is RequestState.FAILED and later.requester == BOB
    applied = approvals_bot.deps.store.get_request(request_id(first))
    assert applied is not None and applied.requester == ALICE
    assert f"by the bot's change `{applied.id[:8]}` since the request" in (later.detail or ""), later.detail

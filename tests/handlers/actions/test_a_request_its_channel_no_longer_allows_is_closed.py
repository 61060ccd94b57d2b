"""A pending request whose channel the access rules no longer allow (a channel restriction added to its rule, or
the rule removed since it was asked) is refused by the judge: closed as no longer allowed, at an approver's click
and at the sweep's turn, and its requester told why (review rev19v). It was left pending for its whole life, every
approver told only "use #db-ops" for a request they cannot move, then expired "before enough approvals"."""

from __future__ import annotations

from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    RULES,
    approvals_bot,
    direct_messages,
    latest_view,
    request_id,
    second_instance,
    swept_later,
)
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

RANDOM = "C0RANDOM01"
OPS_AND_RANDOM = RULES.format(approvals=1).replace('channels = ["C0DBAOPS01"]',
                                                  'channels = ["C0DBAOPS01", "C0RANDOM01"]')
OPS_ONLY = RULES.format(approvals=1)  # the restriction to #db-ops added since


def asked_in_random(bot: Bot) -> SlackEvent:
    bot.use_rules(OPS_AND_RANDOM)
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE, channel=RANDOM)
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None and e.channel == RANDOM]
    bot.use_rules(OPS_ONLY)
    return message


def test_an_approval_click_closes_a_request_its_channel_no_longer_allows(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = asked_in_random(approvals_bot)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, channel=RANDOM, message=message)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, "left pending, though the rules refuse it whoever approves"
    assert "may no longer make this change" in reply.all_text()
    assert "may no longer make this change" in latest_view(approvals_bot, message)
    assert any("may no longer make this change" in text for text in direct_messages(approvals_bot, ALICE))
    assert not planetscale.calls("PATCH")


def test_the_sweep_closes_a_request_its_channel_no_longer_allows(approvals_bot: Bot,
                                                                 planetscale: PlanetScaleState) -> None:
    message = asked_in_random(approvals_bot)
    swept_later(approvals_bot, 700)  # its turn to be judged again, no approval given
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, "left pending until it expires 'before enough approvals'"
    assert "Expired" not in latest_view(approvals_bot, message)
    assert any("may no longer make this change" in text for text in direct_messages(approvals_bot, ALICE))
    assert not planetscale.calls("PATCH")


def test_two_instances_sweeping_close_it_once_and_tell_it_once(approvals_bot: Bot, second_instance: Bot,
                                                               planetscale: PlanetScaleState) -> None:
    asked_in_random(approvals_bot)
    second_instance.use_rules(OPS_ONLY)  # one access file for the deployment
    swept_later(approvals_bot, 700)
    swept_later(second_instance, 700)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED
    told = [t for t in direct_messages(approvals_bot, ALICE) if "may no longer make this change" in t]
    assert len(told) == 1, told
    assert sum(1 for e in approvals_bot.audit.all() if e.action == "failed" and e.request_id == request.id) == 1

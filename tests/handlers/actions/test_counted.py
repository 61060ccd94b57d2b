"""Issue 19, "progress lines count approvals that no longer count": a decided request shows the approvals the
judge counted when it decided, stored with it, not everyone who clicked; driven through Bolt's pipeline with the
emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from access_rules import production_asks
from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    approvals_bot,
    ask,
    latest_view,
    policy_busy,
    request_id,
    sending_details,
    swept_later,
    thread_of,
)
from conftest import Bot
from home_helpers import open_home

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

LEAD2 = "U0LEAD0002"
TWO = production_asks(2)


def _approved_by_both_then_queued(bot: Bot) -> SlackEvent:
    """Production asks two approvals from @dba-leads; carol gives one, lead 2 the second while another change holds
    the policy: approved and queued for the sweep."""
    bot.use_rules(TWO)
    message = ask(bot, f"update acme/app-db {PROD} retention=5d")
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    with policy_busy(bot, PROD):
        bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    return message


def _applied_on_carol_alone(bot: Bot, planetscale: PlanetScaleState, message: SlackEvent) -> None:
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5
    assert (request.approvals_needed, request.decided_by, request.counted) == (1, CAROL, [CAROL]), \
        (request.approvals_needed, request.decided_by, request.counted)
    shown = latest_view(bot, message)
    assert f"*Approvals:* 1 of 1 (<@{CAROL}>)" in shown, json.loads(shown)
    assert "2 of 1" not in shown, json.loads(shown)
    assert f"also approved: <@{LEAD2}>" in shown, json.loads(shown)
    applied = [t for t in thread_of(bot, message) if "Applied to PlanetScale" in t]
    assert applied == [f":white_check_mark: Applied to PlanetScale, approved by <@{CAROL}>."], applied
    assert sending_details(bot, request.id) == [f"approved by @{CAROL}"], sending_details(bot, request.id)


def test_an_approval_the_rules_no_longer_count_is_not_shown_as_counted_once_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Queued on carol's and lead 2's approvals, the rules then ask one, from carol alone: the sweep applies it on
    carol's. The message read "Approvals: 2 of 1 (carol, lead 2)" while the thread and the trail named carol."""
    message = _approved_by_both_then_queued(approvals_bot)
    approvals_bot.use_rules(production_asks(1, CAROL))
    swept_later(approvals_bot)
    _applied_on_carol_alone(approvals_bot, planetscale, message)


def test_an_approval_beyond_what_the_rules_ask_is_shown_apart_once_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Queued on carol's and lead 2's approvals, the rules then ask one from @dba-leads: carol's, the first, is
    enough. The message must not read "2 of 1": carol's counted, lead 2's shown as also given."""
    message = _approved_by_both_then_queued(approvals_bot)
    approvals_bot.use_rules(production_asks(1))
    swept_later(approvals_bot)
    _applied_on_carol_alone(approvals_bot, planetscale, message)


def test_an_approval_that_no_longer_counts_is_not_counted_on_the_home(approvals_bot: Bot) -> None:
    """lead 2 approves a request asking two approvals of @dba-leads; the rules then ask two of carol's group
    alone. alice's Home counted lead 2's approval ("1 of 2"), which the judge no longer counts."""
    approvals_bot.use_rules(TWO)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    approvals_bot.use_rules(production_asks(2, CAROL))
    shown = json.dumps(open_home(approvals_bot, ALICE)["blocks"])
    assert "*Approvals:* 0 of 2" in shown, json.loads(shown)

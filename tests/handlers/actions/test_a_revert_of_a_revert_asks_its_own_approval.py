"""A revert, and a revert of that revert, tried as someone who wants a change through alone (review rev19y): each is
its clicker's own request, asked under the rules as they are, which its clicker approves neither from its message
nor from the App Home; nothing is sent before another approver does. Through Bolt's pipeline and the emulators, on
SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, PROD, RULES, approvals_bot, request_id
from conftest import Bot
from home_helpers import click_on_home, home_buttons, open_home

from bot.domain.change_requests import ChangeRequest, RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = "U0LEAD0002"
# carol is an editor too: she may ask, and approve what others ask, never her own.
CAROL_EDITS = RULES.format(approvals=1).replace('editors = ["@dba-team"]', f'editors = ["@dba-team", "{CAROL}"]')


def channel_messages(bot: Bot) -> list[SlackEvent]:
    return [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
            and e.channel in bot.slack.channels]


def revert_value(bot: Bot, message: SlackEvent) -> str:
    for event in reversed(bot.slack.events):
        if event.ts == message.ts and event.kind in ("message", "update"):
            for block in event.blocks:
                for element in block.get("elements", []):
                    if element.get("action_id") == REVERT:
                        return str(element["value"])
    raise AssertionError("no Revert button")


def revert_of(bot: Bot, original: str) -> ChangeRequest:
    [revert] = [r for r in bot.deps.store.requests() if r.revert_of == original]
    return revert


def retention(planetscale: PlanetScaleState) -> int:
    return int(planetscale.policies[("acme", "app-db")][PROD]["retention_value"])


def refused_to_its_asker(bot: Bot, planetscale: PlanetScaleState, revert: ChangeRequest, message: SlackEvent) -> None:
    """Its asker's clicks, from its message and from the App Home, and another editor's who may not approve, send
    nothing and count nothing."""
    sent = len(planetscale.calls("PATCH"))
    assert (APPROVE, revert.id) not in home_buttons(open_home(bot, revert.requester))
    bot.click(APPROVE, revert.id, user=revert.requester, message=message)
    click_on_home(bot, revert.requester, APPROVE, revert.id)
    bot.click(APPROVE, revert.id, user=ALICE if revert.requester != ALICE else CAROL, message=message)
    assert len(planetscale.calls("PATCH")) == sent
    latest = bot.deps.store.get_request(revert.id)
    assert latest is not None and latest.state is RequestState.PENDING
    assert revert.requester not in bot.deps.store.approvers_of(revert.id)


def test_a_revert_and_a_revert_of_it_each_wait_for_an_approver_other_than_their_asker(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(CAROL_EDITS)
    kept = retention(planetscale)
    approvals_bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    [first] = channel_messages(approvals_bot)
    approvals_bot.click(APPROVE, request_id(first), user=LEAD2, message=first)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1

    # carol reverts alice's change: hers to ask, another's to approve.
    approvals_bot.click(REVERT, revert_value(approvals_bot, first), user=CAROL, message=first)
    revert = revert_of(approvals_bot, request_id(first))
    assert revert.requester == CAROL and revert.approvals_needed == 1
    [_, second] = channel_messages(approvals_bot)
    refused_to_its_asker(approvals_bot, planetscale, revert, second)
    approvals_bot.click(APPROVE, revert.id, user=LEAD2, message=second)
    assert retention(planetscale) == kept and len(planetscale.calls("PATCH")) == 2

    # And she reverts her revert (alice's change again): asked anew, approved by neither her nor alice.
    approvals_bot.click(REVERT, revert_value(approvals_bot, second), user=CAROL, message=second)
    again = revert_of(approvals_bot, revert.id)
    assert again.requester == CAROL and again.approvals_needed == 1 and again.changes.get("retention_value") == 9
    [_, _, third] = channel_messages(approvals_bot)
    refused_to_its_asker(approvals_bot, planetscale, again, third)
    approvals_bot.click(APPROVE, again.id, user=LEAD2, message=third)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 3

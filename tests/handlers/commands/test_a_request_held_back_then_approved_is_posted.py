"""A request waiting for approval whose post Slack answered 5xx (held back, or made unheard) is left to the sweep,
which looks for it once POST_GRACE has passed; approved from the App Home before then, it closed, and the sweep
posts only open requests: the channel never showed the change, and its requester's DM said it is there. Now the
sweep posts it (or finds the one Slack made and shows it applied), once. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, CAROL, PROD, direct_messages, swept_later
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import CHANNEL, Bot
from home_helpers import click_on_home, home_buttons, open_home

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE

# Slack's 5xx to the post: before it made it, or after (a proxy's page).
FAULTS = {"not made": {"status": 502}, "made unheard": {"garbled": b"<html>Bad gateway</html>",
                                                         "garbled_status": 502}}


def in_channel(bot: Bot) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and not e.thread_ts]


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_approved_before_the_sweep_posts_it(approvals_bot: Bot, planetscale: PlanetScaleState,
                                            fault: dict[str, object]) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", channel=CHANNEL, in_thread=False, **fault))  # type: ignore[arg-type]
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    [(action, value)] = [b for b in home_buttons(open_home(bot, CAROL)) if b[0] == APPROVE]
    click_on_home(bot, CAROL, action, value)
    assert len(planetscale.calls("PATCH")) == 1
    for _ in range(2):
        swept_later(bot)
    shown = in_channel(bot)
    assert len(shown) == 1, shown
    request = bot.deps.store.get_request(value)
    assert request is not None and request.state is RequestState.APPLIED and request.told
    message = [e for e in bot.slack.events if e.ts == request.message_ts and e.kind in ("message", "update")]
    assert message and "changed the backup policy" in message[-1].text, message
    assert f"<#{CHANNEL}>" in direct_messages(bot, ALICE)[-1]



@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_expired_before_the_sweep_posts_it_is_posted_once_showing_it(approvals_bot: Bot,
                                                                     planetscale: PlanetScaleState,
                                                                     fault: dict[str, object]) -> None:
    """A request Slack held back that expires before the sweep posts it: posted once, showing it expired (no
    reply under it says so again), its requester told, and it is marked told."""
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", channel=CHANNEL, in_thread=False, **fault))  # type: ignore[arg-type]
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    for _ in range(2):
        swept_later(bot, 36 * 3600)
    assert len(in_channel(bot)) == 1, in_channel(bot)
    [request] = bot.deps.store.requests([RequestState.EXPIRED])
    assert request.message_ts is not None and request.told
    message = [e for e in bot.slack.events if e.ts == request.message_ts and e.kind in ("message", "update")]
    assert message[-1].text.startswith(":hourglass: Expired"), message[-1].text
    assert not [e for e in bot.slack.events if e.kind == "message" and e.thread_ts == request.message_ts]
    assert "expired" in direct_messages(bot, ALICE)[-1]

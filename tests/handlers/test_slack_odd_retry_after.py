"""Slack rate limiting with a `Retry-After` no reader expects (a digit outside ASCII, sent as a byte past ASCII;
an HTTP date; a negative number): the call waits a bounded while and is tried again, as for any 429, and what it
carried is posted. Through Bolt's pipeline and the watch, with Slack's emulator answering the 429."""

from __future__ import annotations

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import CHANNEL, Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher

ODD = ["²", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "0x10"]


def rate_limited_once(bot: Bot, method: str, retry_after: str) -> None:
    # The emulator writes the header as given; Starlette sends a character past ASCII as its Latin-1 byte.
    bot.slack.add_fault(MethodFault(method=method, status=429, retry_after=retry_after,  # type: ignore[arg-type]
                                    times=1))


@pytest.mark.parametrize("retry_after", ODD)
def test_a_watch_notice_slack_rate_limits_with_an_odd_retry_after_is_posted_in_its_pass(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, retry_after: str) -> None:
    bot, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    rate_limited_once(bot, "chat.postMessage", retry_after)
    result = watcher.run_once()
    assert result is not None and len(result.notices) == 1
    assert bot.deps.store.unposted_notices() == []
    assert [e.text for e in bot.slack.events if e.kind == "message" and e.text.startswith(":eyes:")]


@pytest.mark.parametrize("retry_after", ODD)
def test_an_applied_change_slack_rate_limits_with_an_odd_retry_after_is_posted_in_the_channel(
        bot: Bot, planetscale: PlanetScaleState, retry_after: str) -> None:
    rate_limited_once(bot, "chat.postMessage", retry_after)
    reply = bot.command("update acme/app-db bp03devday retention=5d")
    assert "Something went wrong" not in reply.all_text(), reply.all_text()
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 5
    assert [e for e in reply.public if e.channel == CHANNEL], reply.all_text()
    assert [e.action for e in bot.audit.all()].count("applied") == 1

"""Slack rate limiting with a `Retry-After` longer than the bot waits (an hour): the post is not tried again before
Slack said (a try Slack refuses for sure, and a worker held meanwhile), it fails at once as rate limited, and what
it carried is kept for a later try: the watch's notice for the next pass, with `/healthz` saying why. Calls are
counted and the client's waits recorded, not slept."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher


@pytest.fixture
def waits(approvals_bot: Bot) -> Iterator[list[float]]:
    yield from recorded_waits(approvals_bot)


def recorded_waits(bot: Bot) -> Iterator[list[float]]:
    http = bot.app.client.http  # type: ignore[attr-defined]
    usual, waited = http.sleep, []
    http.sleep = waited.append
    yield waited
    http.sleep = usual


def an_hour_limited(bot: Bot) -> MethodFault:
    fault = MethodFault(method="chat.postMessage", status=429, retry_after=3600, times=None)
    bot.slack.add_fault(fault)
    return fault


def each_once(bot: Bot) -> list[str]:
    sent = [json.dumps(args, sort_keys=True) for args in bot.slack.method_calls("chat.postMessage")]
    assert len(sent) == len(set(sent)), "a post was tried again before Slack's Retry-After"
    return sent


def test_a_request_under_an_hours_rate_limit_is_shown_without_waiting(
        approvals_bot: Bot, planetscale: PlanetScaleState, waits: list[float]) -> None:
    bot = approvals_bot
    an_hour_limited(bot)
    reply = bot.command("update acme/app-db bp03devday target=production")
    assert "Something went wrong" not in reply.all_text(), reply.all_text()
    assert "Approve" in reply.all_text(), reply.all_text()  # through the response URL, in the channel
    assert each_once(bot)
    assert waits == []


def test_a_watch_notice_under_an_hours_rate_limit_waits_for_the_next_pass_not_in_it(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    waited = recorded_waits(bot)
    waits = next(waited)
    now = [1000.0]
    watcher.clock = lambda: now[0]
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    fault = an_hour_limited(bot)
    result = watcher.run_once()
    assert result is not None and len(result.notices) == 1
    assert len(each_once(bot)) == 1
    assert waits == []
    assert len(bot.deps.store.unposted_notices()) == 1
    assert watcher.unposted is not None and "ratelimited" in watcher.unposted
    with bot.slack.lock:
        bot.slack.faults.remove(fault)
    now[0] += 3600  # no try before Slack's hour is out
    watcher.run_once()
    assert bot.deps.store.unposted_notices() == []
    assert len([e for e in bot.slack.events if e.kind == "message" and e.text.startswith(":eyes:")]) == 1
    next(waited, None)

"""A host whose clock jumped hours (a VM resumed before NTP caught up): Slack's own requests, signed hours off this
clock, are refused as Bolt refuses them (401, a replay window of five minutes), and before, in silence: every
command failed in Slack ("dispatch_failed") and the log said nothing. A request whose signature is Slack's but whose
time stamp lies outside the window is logged, naming the clock and how far off it is, at most once a minute; one
whose signature is not Slack's says nothing of the clock."""

from __future__ import annotations

import logging
import time

import pytest
from conftest import SIGNING_SECRET, Bot
from test_serve import post, server  # noqa: F401

from bot.emulators.slack_requests import signed_headers

CLOCK = "bot.runtime.server"


def clock_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CLOCK and r.levelno >= logging.WARNING]


@pytest.mark.parametrize(("hours", "words"), [(-3, "ahead of"), (5, "behind")])
def test_slacks_requests_refused_for_a_clock_hours_off_are_logged_naming_the_clock(
        bot: Bot, server: str, caplog: pytest.LogCaptureFixture, hours: int, words: str) -> None:  # noqa: F811
    caplog.set_level(logging.WARNING, logger=CLOCK)
    body = bot.command_body("help")
    stamp = int(time.time()) + hours * 3600  # Slack's time, as far off this host's clock
    for _ in range(3):
        assert post(server, body, dict(signed_headers(SIGNING_SECRET, body, stamp))).status_code == 401
    [line] = clock_lines(caplog)  # once, not a line a request
    assert f"{abs(hours)} hours {words} Slack's" in line and "NTP" in line, line


def test_a_request_not_signed_by_slack_says_nothing_of_the_clock(
        bot: Bot, server: str, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.WARNING, logger=CLOCK)
    body = bot.command_body("help")
    stamp = int(time.time()) - 3 * 3600
    assert post(server, body, dict(signed_headers("not-the-secret", body, stamp))).status_code == 401
    assert clock_lines(caplog) == []

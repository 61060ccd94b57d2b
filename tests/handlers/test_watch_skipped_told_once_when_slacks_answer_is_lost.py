"""What the watch skipped is told to the audit channel once when Slack took the message but its answer was lost
(the client's timeout passed first): the next pass looks in the channel's history before telling it again, as a
notice's next try does."""

from __future__ import annotations

import threading
import time

from conftest import ANSWER_LOST_TIMEOUT, Bot
from watch_helpers import AUDIT, approvals_bot, watched

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE

__all__ = ["approvals_bot", "watched"]  # fixtures, used by name
EVERY_DATABASE = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
"""


def skipped_in_audit(bot: Bot) -> int:
    return sum(e.kind == "message" and e.channel == AUDIT and e.text == SKIPPED_HEADLINE for e in bot.slack.events)


def test_a_skipped_message_slack_took_after_the_clients_timeout_is_posted_once(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    bot.use_rules(EVERY_DATABASE)
    watcher.run_once()  # the baseline
    with planetscale.lock:  # a name PlanetScale should never list: skipped, and told
        planetscale.add_database("acme", "not a name")
    pool = bot.app.client.http.client  # type: ignore[attr-defined]
    usual = pool.timeout
    pool.timeout = ANSWER_LOST_TIMEOUT
    answered = threading.Event()  # Slack answers once the bot has stopped waiting, however slow the machine
    bot.slack.add_fault(MethodFault("chat.postMessage", until=answered, times=1))
    try:
        watcher.run_once()
    finally:
        pool.timeout = usual
        answered.set()
    deadline = time.monotonic() + 60
    while not skipped_in_audit(bot):  # Slack posts it, though the bot stopped waiting for its answer
        assert time.monotonic() < deadline
        time.sleep(0.05)
    watcher.run_once()
    watcher.run_once()
    assert skipped_in_audit(bot) == 1

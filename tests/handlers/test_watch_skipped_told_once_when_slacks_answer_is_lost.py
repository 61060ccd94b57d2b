"""What the watch skipped is told to the audit channel once when Slack took the message but its answer was lost
(the client's timeout passed first): the next pass looks in the channel's history before telling it again, as a
notice's next try does."""

from __future__ import annotations

from conftest import Bot
from watch_helpers import AUDIT, a_pass_whose_post_slack_answers_late, approvals_bot, watched

from bot.emulators.planetscale_state import PlanetScaleState
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
    a_pass_whose_post_slack_answers_late(bot, watcher, lambda: skipped_in_audit(bot) > 0)
    watcher.run_once()
    watcher.run_once()
    assert skipped_in_audit(bot) == 1

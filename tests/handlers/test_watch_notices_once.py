"""A watch notice reaches the audit channel once, when Slack took a try but its answer was lost (the client's
timeout passed first), and when marking it posted failed after Slack took it: the next try looks in the
channel's history for the notice's ID (its message metadata) before posting again."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import Bot
from watch_helpers import AUDIT, a_pass_whose_post_slack_answers_late, approvals_bot, watched

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher

__all__ = ["approvals_bot", "watched"]  # fixtures, used by name
PROD = "bp01prod12h"


def notices_in_audit(bot: Bot) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.channel == AUDIT
            and e.text.startswith(":eyes: Changed outside the bot")]


def test_a_notice_slack_took_after_the_clients_timeout_is_posted_once(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watcher.run_once()  # the baseline
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    a_pass_whose_post_slack_answers_late(bot, watcher, lambda: bool(notices_in_audit(bot)))
    assert bot.deps.store.unposted_notices(), "the bot does not know it was posted"
    watcher.run_once()
    watcher.run_once()
    assert len(notices_in_audit(bot)) == 1
    assert bot.deps.store.unposted_notices() == []


def test_a_notice_whose_marking_as_posted_failed_is_not_posted_again(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    store = bot.deps.store
    real = store.watch_notice_posted

    def fails(notice_id: str) -> None:
        store.watch_notice_posted = real  # type: ignore[method-assign]  # once
        raise sa.exc.OperationalError("UPDATE watch_notices", {}, Exception("the database went away"))

    store.watch_notice_posted = fails  # type: ignore[method-assign]
    watcher.run_once()  # the pass carries on (test_watch_notice_the_database_will_not_mark_posted.py)
    assert len(notices_in_audit(bot)) == 1 and store.unposted_notices()
    watcher.run_once()
    assert len(notices_in_audit(bot)) == 1
    assert store.unposted_notices() == []


def test_a_notice_tried_while_the_history_cannot_be_read_waits_for_the_next_pass(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """Slack failed the first try; the look before the second fails too: nothing is posted blind, nothing lost."""
    bot, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", times=1))
    watcher.run_once()
    bot.slack.add_fault(MethodFault("conversations.history", error="internal_error", times=1))
    watcher.run_once()
    assert notices_in_audit(bot) == [] and bot.deps.store.unposted_notices()
    watcher.run_once()
    assert len(notices_in_audit(bot)) == 1 and bot.deps.store.unposted_notices() == []


def test_without_the_history_scope_a_notice_tried_before_is_still_posted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """An app installed before the history scopes: the look is refused for good, so the notice is posted (a
    possible repeat rather than silence)."""
    bot, watcher = watched
    bot.slack.scopes.remove("channels:history")
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", times=1))
    watcher.run_once()
    watcher.run_once()
    assert len(notices_in_audit(bot)) == 1 and bot.deps.store.unposted_notices() == []

"""conversations.history answered `ok` with messages the bot cannot read (issue 20): the look before posting a
notice again fails as a refused look does, so the notice is neither posted blind nor lost, and the pass ends."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import ALICE, SIGNING_SECRET, Bot
from test_watch_notices_once import PROD, notices_in_audit
from watch_helpers import approvals_bot, watched

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.emulators.slack_requests import app_home_opened_body, signed_headers
from bot.runtime.watch import Watcher

__all__ = ["approvals_bot", "watched"]  # fixtures, used by name


@pytest.mark.parametrize("answer", [
    {"ok": True, "messages": ["1700000000.000100"], "has_more": False},
    {"ok": True, "messages": [{"ts": "1.000001", "metadata": "posted"}], "has_more": False},
    {"ok": True, "messages": [{"ts": "1.000001", "metadata": {"event_type": "x", "event_payload": "id"}}]},
    {"ok": True, "messages": {"ts": "1.000001"}},
    {"ok": True, "messages": [{"ts": 1.000001}]},
    {"ok": True, "messages": [{"ts": None}]},
    {"ok": True, "messages": [], "has_more": True, "response_metadata": "next"},
])
def test_a_notice_tried_while_the_history_is_unreadable_waits_for_the_next_pass(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, answer: dict[str, Any]) -> None:
    bot, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", times=1))
    watcher.run_once()
    bot.slack.add_fault(MethodFault("conversations.history", body=answer, times=1))
    watcher.run_once()
    assert notices_in_audit(bot) == [] and bot.deps.store.unposted_notices()
    watcher.run_once()
    assert len(notices_in_audit(bot)) == 1 and bot.deps.store.unposted_notices() == []


def test_slacks_retry_of_an_event_publishes_the_home_once(bot: Bot) -> None:
    """Slack redelivers an event its first delivery of which it thinks failed (X-Slack-Retry-Num, a new
    timestamp and signature): the work is done once, and the retry is acked so that Slack stops."""
    body = app_home_opened_body(user_id=ALICE, event_id="Ev00000001")
    first = bot.send(body, signed_headers(SIGNING_SECRET, body, content_type="application/json"))
    assert first.response.status == 200
    bot.executor.wait_idle(timeout=30)
    for number, reason in ((1, "http_timeout"), (2, "http_error")):
        retry = {**signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) + number,
                                  content_type="application/json"),
                 "x-slack-retry-num": str(number), "x-slack-retry-reason": reason}
        assert bot.send(body, retry).response.status == 200
    bot.executor.wait_idle(timeout=30)
    assert len(bot.slack.method_calls("views.publish")) == 1
